"""Shared by every test directory. Being here puts tests/ on sys.path (pytest's default "prepend" import mode adds
a conftest's folder when it is not a package), so unit and functional tests import the shared helper
``policy_catalog`` (the catalog under test) by name; and it starts the longest tests first."""

from __future__ import annotations

import pytest

# The longest tests, started first: the suite runs on every core (pytest-xdist), and one of these started last
# would leave the other workers idle while it runs alone.
LONGEST_FIRST = ("test_policy_addition.py", "test_scan_malformed_property.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its order, the same on every worker
