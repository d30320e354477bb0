"""template.yaml passes cfn-lint and declares the function the code provides."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !If, ...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)
    return loaded


def test_template_passes_cfn_lint() -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_template_function_handler_is_importable_from_code_uri() -> None:
    function = load_template()["Resources"]["ScannerFunction"]["Properties"]
    module_name, _, attribute = function["Handler"].rpartition(".")

    assert (REPO / function["CodeUri"] / Path(*module_name.split("."))).with_suffix(".py").is_file()
    assert callable(getattr(importlib.import_module(module_name), attribute))
