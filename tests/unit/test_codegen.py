"""The generated evaluation functions: built from the policy alone, never from the values it names."""

from __future__ import annotations

from ecsguard.core.compiler import compile_policy
from ecsguard.core.policy import PolicyDocument

PLANTED = "PLANTED-param-7f3a"


def test_generated_source_names_no_parameter_value() -> None:
    # GIVEN a policy whose parameters and patterns carry a recognisable value
    document = PolicyDocument.model_validate(
        {
            "id": "test-policy",
            "title": "Test policy",
            "description": "A policy written by a test.",
            "severity": "HIGH",
            "resource": "AWS::ECS::TaskDefinition",
            "packs": ["mission"],
            "remediation": {"text": "Fix it.", "url": "https://example.com/fix"},
            "parameters": {"names": {"type": "string_list", "default": [PLANTED], "description": "Names."}},
            "applies_when": {"field": "family", "op": "matches", "value": PLANTED},
            "check": {
                "for_each": "containerDefinitions[]",
                "as": "container",
                "require": {"not": {"field": "name", "op": "in", "value": {"param": "names"}}},
            },
        }
    )

    # WHEN it compiles
    policy = compile_policy(document, {}, "test")

    # THEN the functions' source (kept as their docstring) holds names of constants, never the values
    assert policy.in_scope is not None
    sources = [policy.verdict.__doc__ or "", policy.in_scope.__doc__ or ""]
    assert all("def " in source for source in sources)
    assert not any(PLANTED in source for source in sources)
