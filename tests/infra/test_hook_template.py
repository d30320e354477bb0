"""template.yaml's optional CloudFormation hook: off by default; when deployed, a Lambda hook on the ECS resources
ecsguard.hook judges, invoked through a role only CloudFormation Hooks of this account assume and that may invoke
only the hook function, which may describe task definitions and nothing else. The template stays lint-clean with
the hook on (cfn-lint and `sam validate --lint` over a copy whose DeployHook defaults to true)."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfn_template import (
    REPO,
    TEMPLATE,
    actions,
    as_list,
    deployed,
    document_actions,
    function_environment,
    function_property,
    load,
    role_policies,
    statements,
)
from test_sam import run, sam, sam_environment

from ecsguard import hook
from ecsguard.settings import PREFIX, Settings

HOOK_RESOURCES = frozenset(
    {
        "HookFunction",
        "HookLogGroup",
        "HookRole",
        "HookCodePermissions",
        "HookRuntimePermissions",
        "HookExecutionRole",
        "HookExecutionPermissions",
        "EcsComplianceHook",
    }
)
ENABLED = {"DeployHook": "true"}
# What the hook function calls: a service's task definition (the ECS adapter's EcsResolver.task_definition, which
# describes it; ecsguard.hook asks for nothing else), and what Lambda does with its role (logs, traces).
HOOK_CODE_ACTIONS = frozenset({"ecs:DescribeTaskDefinition"})
HOOK_RUNTIME_ACTIONS = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
# CloudFormation waits this long for a Lambda hook's answer.
CLOUDFORMATION_WAIT_SECONDS = 30


def with_hook_by_default(tmp_path: Path) -> Path:
    """A copy of template.yaml whose DeployHook parameter defaults to true, beside nothing else."""
    text = TEMPLATE.read_text(encoding="utf-8")
    start = text.index("  DeployHook:\n")
    default = text.index('Default: "false"', start)
    assert default < text.index("\n  HookFailureMode:", start), "DeployHook's Default is its own"
    copied = tmp_path / "template.yaml"
    copied.write_text(text[:default] + 'Default: "true"' + text[default + len('Default: "false"') :], encoding="utf-8")
    assert load(copied)["Parameters"]["DeployHook"]["Default"] == "true"
    return copied


def test_hook_is_off_by_default_and_deploys_its_resources_when_enabled() -> None:
    template = load()

    assert template["Parameters"]["DeployHook"]["Default"] == "false"
    assert {name for name, r in template["Resources"].items() if r.get("Condition") == "HookEnabled"} == HOOK_RESOURCES
    assert not set(deployed(template)) & HOOK_RESOURCES
    assert set(deployed(template, ENABLED)) >= HOOK_RESOURCES
    assert {"HookFunctionName", "HookArn"} <= set(deployed(template, ENABLED, section="Outputs"))
    assert not {"HookFunctionName", "HookArn"} & set(deployed(template, section="Outputs"))


def test_hook_targets_what_the_code_judges_before_create_and_update() -> None:
    template = load()
    properties = deployed(template, ENABLED)["EcsComplianceHook"]["Properties"]

    assert properties == {
        "Alias": {"Ref": "HookAlias"},
        "HookStatus": "ENABLED",
        "FailureMode": {"Ref": "HookFailureMode"},
        "LambdaFunction": {"Fn::GetAtt": ["HookFunction", "Arn"]},
        "ExecutionRole": {"Fn::GetAtt": ["HookExecutionRole", "Arn"]},
        "TargetOperations": ["RESOURCE"],
        "TargetFilters": {
            "Actions": ["CREATE", "UPDATE"],
            "InvocationPoints": ["PRE_PROVISION"],
            "TargetNames": list(hook.HOOK_TARGETS),
        },
    }
    assert sorted(template["Parameters"]["HookFailureMode"]["AllowedValues"]) == ["FAIL", "WARN"]


@pytest.mark.parametrize(
    ("alias", "accepted"),
    [
        ("Ecsguard::ECS::Compliance", True),
        ("Acme::Ecs::Guard2", True),
        ("Ecsguard::ECS", False),
        ("Ecs-guard::ECS::Compliance", False),
        ("E::ECS::Compliance", False),
        ("Aws::ECS::Compliance", False),
    ],
)
def test_hook_alias_parameter_takes_a_three_part_type_name(alias: str, accepted: bool) -> None:
    pattern = load()["Parameters"]["HookAlias"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, alias)) is accepted


def test_hook_execution_role_is_assumed_by_this_accounts_hooks_and_invokes_only_the_hook_function() -> None:
    template = load()
    role = template["Resources"]["HookExecutionRole"]["Properties"]

    assert statements(role["AssumeRolePolicyDocument"]) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "hooks.cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {
                    "aws:SourceArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:type/hook/*"
                    }
                },
            },
        }
    ]
    attached = role_policies(template, "HookExecutionRole")
    assert list(attached) == ["invoke-hook-function"]
    (statement,) = statements(attached["invoke-hook-function"])
    assert actions(statement) == {"lambda:InvokeFunction"}
    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["HookFunction", "Arn"]}]
    assert "Policies" not in role
    assert "ManagedPolicyArns" not in role


def test_hook_function_role_may_describe_task_definitions_and_nothing_else() -> None:
    template = load()
    role = template["Resources"]["HookRole"]["Properties"]
    attached = role_policies(template, "HookRole")

    assert template["Resources"]["HookFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["HookRole", "Arn"]}
    assert [s["Principal"] for s in statements(role["AssumeRolePolicyDocument"])] == [
        {"Service": "lambda.amazonaws.com"}
    ]
    assert set(attached) == {"ecsguard-code-calls", "lambda-runtime"}
    assert document_actions(attached["ecsguard-code-calls"]) == HOOK_CODE_ACTIONS
    assert document_actions(attached["lambda-runtime"]) == HOOK_RUNTIME_ACTIONS
    (logs,) = (s for s in statements(attached["lambda-runtime"]) if "logs:PutLogEvents" in actions(s))
    assert as_list(logs["Resource"]) == [{"Fn::GetAtt": ["HookLogGroup", "Arn"]}]
    assert "Policies" not in role
    assert "ManagedPolicyArns" not in role
    # no topic, queue or key policy names the function's role: it publishes and keeps nothing
    for name in ("FindingsTopicPolicy", "FailureQueuePolicy", "EventsDeadLetterQueuePolicy", "EncryptionKey"):
        assert "HookRole" not in json.dumps(template["Resources"][name]), name


def test_hook_function_runs_the_hook_handler_within_cloudformations_wait() -> None:
    template = load()
    properties = template["Resources"]["HookFunction"]["Properties"]
    module_name, _, attribute = properties["Handler"].rpartition(".")

    assert module_name == "ecsguard.handlers.hook"
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert (
        REPO / function_property(template, "HookFunction", "CodeUri") / "ecsguard" / "handlers" / "hook.py"
    ).is_file()
    assert hook.DEADLINE_SECONDS < properties["Timeout"] < CLOUDFORMATION_WAIT_SECONDS
    # the same code, runtime, architecture, tracing and policies layer as the other functions
    for name in ("CodeUri", "Runtime", "Architectures", "Tracing", "Layers"):
        assert name not in properties, name
    # synchronous: CloudFormation reads the answer, so no asynchronous retries or failure queue
    assert "EventInvokeConfig" not in properties
    group = template["Resources"][properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{properties['FunctionName']['Fn::Sub']}"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_hook_function_settings_are_the_scanners() -> None:
    template = load()
    environment = function_environment(template, "HookFunction")
    names = {name for name in environment if name.startswith(PREFIX)}

    assert {name[len(PREFIX) :].lower() for name in names} <= set(Settings.model_fields)
    for name in ("ECSGUARD_POLICY_DIR", "ECSGUARD_PARAMETERS", "ECSGUARD_PACKS"):
        assert environment[name] == function_environment(template, "ScannerFunction")[name], name


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_template_with_the_hook_on_by_default_passes_cfn_lint(tmp_path: Path) -> None:
    completed = _lint(with_hook_by_default(tmp_path))

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""


def test_template_with_the_hook_on_by_default_passes_sam_validate_lint(tmp_path: Path) -> None:
    copied = with_hook_by_default(tmp_path)

    completed = run(
        [str(sam()), "validate", "--lint", "--template-file", str(copied)],
        cwd=REPO,
        env=sam_environment(),
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
