"""Thin Lambda entry points."""

import os

# ecsguard uses no pydantic plugin, and without this pydantic reads the entry points of every installed
# distribution when it builds its first model, at each cold start. An explicit setting is kept.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
