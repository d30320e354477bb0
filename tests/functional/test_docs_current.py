"""The generated policy reference matches the policies it documents."""

from __future__ import annotations

from pathlib import Path

from ecsguard.catalog import load_policy_set
from ecsguard.policy_docs import load_controls, render_control_table, render_policy_reference, with_control_table

REPO = Path(__file__).resolve().parents[2]


def test_policy_reference_is_current_with_policies() -> None:
    generated = render_policy_reference(load_policy_set(REPO / "policies"), load_controls())

    committed = (REPO / "docs" / "policies.md").read_text(encoding="utf-8")

    assert committed == generated, "regenerate with: ecsguard policies docs > docs/policies.md"


def test_policy_reference_names_every_policy_and_parameter() -> None:
    policy_set = load_policy_set(REPO / "policies")
    generated = render_policy_reference(policy_set)

    for policy in policy_set.policies:
        assert f"## `{policy.id}`" in generated
        for name in policy.document.parameters:
            assert f"| `{name}` |" in generated


def test_readme_control_table_is_current_with_policies_and_controls() -> None:
    table = render_control_table(load_policy_set(REPO / "policies"), load_controls())
    readme = (REPO / "README.md").read_text(encoding="utf-8")

    assert readme == with_control_table(readme, table), (
        "regenerate the table between the README's control table markers with: ecsguard policies controls"
    )
