"""The sample events of events/, read once and handed out as fresh copies that tests may change."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

EVENT_DIR = Path(__file__).resolve().parents[2] / "events"


@cache
def _read(name: str) -> str:
    return (EVENT_DIR / name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """A fresh copy of a sample event, safe to change."""
    event: dict[str, Any] = json.loads(_read(name))
    return event


def response(name: str, key: str) -> dict[str, Any]:
    """A resource from a sample event's response: what ECS would describe."""
    value: dict[str, Any] = load(name)["detail"]["responseElements"][key]
    return value
