"""template.yaml and templates/member-account.yaml: lint, and what the code needs, granted and no more.

Static checks on the templates as written; tests/infra/test_sam.py runs the SAM CLI on them.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from cfn_template import (
    MEMBER_TEMPLATE,
    REPO,
    TEMPLATE,
    TEMPLATES,
    actions,
    as_list,
    branches,
    code_iam_actions,
    conditions,
    deployed,
    document_actions,
    function_environment,
    function_property,
    load,
    policy_documents,
    resources,
    role_policies,
    statements,
)

from ecsguard import observability
from ecsguard.adapters import organizations as organizations_adapter
from ecsguard.adapters import sqs as sqs_adapter
from ecsguard.events import DELETION_CALLS, EVALUATED_CALLS, TASK_STATE_CHANGE
from ecsguard.settings import PREFIX, Settings

FUNCTIONS = ("ScannerFunction", "SweepFunction", "OrganizationFunction")
# Invoked asynchronously (EventBridge): Lambda retries them and keeps what still fails. The organization function
# is invoked by the state machine, which retries it itself.
ASYNC_FUNCTIONS = ("ScannerFunction", "SweepFunction")
FUNCTION_ROLES = {
    "ScannerFunction": "ScannerRole",
    "SweepFunction": "SweepRole",
    "OrganizationFunction": "OrganizationRole",
}
# Publishing to a KMS-encrypted topic makes SNS use the key with the publisher's permissions.
ENCRYPTED_TOPIC_ACTIONS = frozenset({"kms:GenerateDataKey", "kms:Decrypt"})
# What Lambda itself does with a function's role: logs, traces (Tracing: Active), the failure queue
# (SQS, encrypted with the stack's key).
LAMBDA_RUNTIME_ACTIONS = frozenset(
    {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
)
SYNCHRONOUS_RUNTIME_ACTIONS = frozenset(
    {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
)
# Actions the Service Authorization Reference lists without any resource type: only "*" grants them.
NO_RESOURCE_LEVEL_PERMISSIONS = frozenset(
    {
        "ecs:DescribeTaskDefinition",
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:ListTaskDefinitions",
        "organizations:ListAccounts",
        # Its resource (a container instance) is not what a Fargate cluster's list names: granted on "*" with
        # the ecs:cluster condition.
        "ecs:ListTasks",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        # What Step Functions needs to trace an execution and deliver its logs (its guide grants them on "*").
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    }
)


def code_actions_of(function: str) -> frozenset[str]:
    """What each handler calls: the event path describes what an event names, in the event's account
    (assuming the member role for other accounts); the sweep lists and describes its own account, or a member's
    through the member role; the organization function lists the organization's accounts and keeps their coverage
    findings in this account's Security Hub."""
    every = code_iam_actions()
    workloads = every - organizations_adapter.IAM_ACTIONS
    if function == "ScannerFunction":
        return frozenset(action for action in workloads if not action.startswith("ecs:List"))
    if function == "SweepFunction":
        return workloads
    return organizations_adapter.IAM_ACTIONS | {"securityhub:BatchImportFindings", "securityhub:GetFindings"}


def member_actions() -> frozenset[str]:
    """What the scanner and the sweep do in a member account: the ECS list and describe calls and the Security Hub
    import."""
    return frozenset(
        action for action in code_actions_of("SweepFunction") if action.split(":")[0] in {"ecs", "securityhub"}
    )


def identity_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of the policies attached to roles (not trust, key, queue, topic or bus policies)."""
    found = []
    for policy in resources(template, "AWS::IAM::RolePolicy").values():
        found.extend(statements(policy["Properties"]["PolicyDocument"]))
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            found.extend(statements(policy["PolicyDocument"]))
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_template_passes_cfn_lint(path: Path) -> None:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == ""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_handler_is_importable_from_code_uri(function: str) -> None:
    template = load()
    module_name, _, attribute = function_property(template, function, "Handler").rpartition(".")
    code_uri = function_property(template, function, "CodeUri")

    assert (REPO / code_uri / Path(*module_name.split("."))).with_suffix(".py").is_file()
    assert callable(getattr(importlib.import_module(module_name), attribute))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_role_code_policy_grants_exactly_what_the_code_calls(function: str) -> None:
    # GIVEN the actions the adapters declare, split by the handler that calls them
    expected = code_actions_of(function) | (
        ENCRYPTED_TOPIC_ACTIONS if "sns:Publish" in code_actions_of(function) else set()
    )
    template = load()
    role = FUNCTION_ROLES[function]

    # WHEN the role's code policy is read
    granted = document_actions(role_policies(template, role)["ecsguard-code-calls"])

    # THEN it grants exactly those
    assert template["Resources"][function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert granted == expected, f"missing {sorted(expected - granted)}, not called {sorted(granted - expected)}"


def test_function_roles_together_grant_every_call_the_code_makes() -> None:
    template = load()
    granted = set().union(
        *(document_actions(role_policies(template, role)["ecsguard-code-calls"]) for role in FUNCTION_ROLES.values())
    )

    assert code_iam_actions() <= granted


@pytest.mark.parametrize("role", FUNCTION_ROLES.values())
def test_function_role_has_only_code_and_lambda_runtime_policies(role: str) -> None:
    template = load()
    properties = template["Resources"][role]["Properties"]
    attached = role_policies(template, role)

    assert set(attached) == {"ecsguard-code-calls", "lambda-runtime"}
    # The organization function is invoked synchronously: no failure queue of its own to write to.
    runtime = LAMBDA_RUNTIME_ACTIONS if role != "OrganizationRole" else SYNCHRONOUS_RUNTIME_ACTIONS
    assert document_actions(attached["lambda-runtime"]) == runtime
    assert "Policies" not in properties
    assert "ManagedPolicyArns" not in properties
    assert not resources(template, "AWS::IAM::Policy")
    assert not resources(template, "AWS::IAM::ManagedPolicy")


def test_member_role_grants_exactly_what_the_scanner_calls_in_a_member_account() -> None:
    role = load(MEMBER_TEMPLATE)["Resources"]["MemberRole"]["Properties"]
    granted = {action for policy in role["Policies"] for action in document_actions(policy["PolicyDocument"])}

    assert granted == member_actions()
    assert "ManagedPolicyArns" not in role


def test_member_role_trusts_only_the_central_scanner_and_sweep_roles() -> None:
    template = load(MEMBER_TEMPLATE)
    trust = statements(template["Resources"]["MemberRole"]["Properties"]["AssumeRolePolicyDocument"])

    assert trust == [
        {
            "Sid": "OnlyTheCentralScanner",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}},
            "Action": "sts:AssumeRole",
            "Condition": {
                "ArnEquals": {
                    "aws:PrincipalArn": [
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:role/${ScannerRoleName}"},
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:role/${SweepRoleName}"},
                    ]
                }
            },
        }
    ]
    assert load()["Resources"]["ScannerRole"]["Properties"]["RoleName"] == {"Ref": "ScannerRoleName"}
    assert load()["Resources"]["SweepRole"]["Properties"]["RoleName"] == {"Ref": "SweepRoleName"}
    member_parameters = load(MEMBER_TEMPLATE)["Parameters"]
    assert member_parameters["SweepRoleName"]["Default"] == load()["Parameters"]["SweepRoleName"]["Default"]


def test_scanner_and_sweep_assume_only_the_member_role_they_are_told_about() -> None:
    template = load()
    assume = [s for s in identity_statements(template) if "sts:AssumeRole" in actions(s)]

    assert [as_list(s["Resource"]) for s in assume] == [
        [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"}]
    ] * 2
    for function in ("ScannerFunction", "SweepFunction"):
        assert function_environment(template, function)[f"{PREFIX}MEMBER_ROLE_NAME"] == {"Ref": "MemberRoleName"}
    member_parameters = load(MEMBER_TEMPLATE)["Parameters"]
    assert member_parameters["MemberRoleName"]["Default"] == template["Parameters"]["MemberRoleName"]["Default"]
    assert member_parameters["ScannerRoleName"]["Default"] == template["Parameters"]["ScannerRoleName"]["Default"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_no_statement_grants_a_wildcard_action(path: Path) -> None:
    wildcards = [
        (statement.get("Sid"), action)
        for document in policy_documents(load(path))
        for statement in statements(document)
        for action in actions(statement)
        if not isinstance(action, str) or action == "*" or action.endswith(":*")
    ]
    negated = [
        statement.get("Sid")
        for document in policy_documents(load(path))
        for statement in statements(document)
        if "NotAction" in statement or "NotResource" in statement
    ]

    assert wildcards == []
    assert negated == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_role_policies_use_resource_star_only_where_iam_supports_nothing_narrower(path: Path) -> None:
    unscoped = {
        action
        for statement in identity_statements(load(path))
        if "*" in as_list(statement["Resource"])
        for action in actions(statement)
    }

    assert unscoped <= NO_RESOURCE_LEVEL_PERMISSIONS


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_role_policies_scope_each_call_to_its_resource_type(path: Path) -> None:
    # The Service Authorization Reference's resource type of each action, in this account.
    expected_suffix = {
        "ecs:DescribeServices": ":${AWS::AccountId}:service/*",
        "ecs:DescribeClusters": ":${AWS::AccountId}:cluster/*",
        "securityhub:BatchImportFindings": ":${AWS::AccountId}:product/${AWS::AccountId}/default",
        "securityhub:GetFindings": ":${AWS::AccountId}:hub/default",
    }
    for statement in identity_statements(load(path)):
        for action in actions(statement) & expected_suffix.keys():
            resource = as_list(statement["Resource"])
            assert len(resource) == 1, action
            assert resource[0]["Fn::Sub"].startswith("arn:${AWS::Partition}:"), action
            assert resource[0]["Fn::Sub"].endswith(expected_suffix[action]), action


def test_scanner_and_sweep_publish_only_to_the_findings_topic_with_its_key() -> None:
    template = load()
    for statement in identity_statements(template):
        if "sns:Publish" in actions(statement):
            assert as_list(statement["Resource"]) == [{"Ref": "FindingsTopic"}]
        if actions(statement) & {"kms:GenerateDataKey", "kms:Decrypt"}:
            assert as_list(statement["Resource"]) == [{"Fn::GetAtt": ["EncryptionKey", "Arn"]}]
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]
    topic = template["Resources"]["FindingsTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}


def test_findings_topic_admits_publishing_only_from_the_functions_and_this_accounts_alarms() -> None:
    template = load()
    document = template["Resources"]["FindingsTopicPolicy"]["Properties"]["PolicyDocument"]
    principals = [statement["Principal"] for statement in statements(document)]

    assert document_actions(document) == {"sns:Publish"}
    assert principals == [
        {"AWS": [{"Fn::GetAtt": ["ScannerRole", "Arn"]}, {"Fn::GetAtt": ["SweepRole", "Arn"]}]},
        {"Service": "cloudwatch.amazonaws.com"},
    ]
    alarms = statements(document)[1]["Condition"]
    assert alarms["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_event_rules_match_exactly_the_calls_the_scanner_evaluates_or_archives() -> None:
    expected_pattern = {
        "source": ["aws.ecs"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["ecs.amazonaws.com"]},
    }
    rules = {
        f"{path.name}:{name}": rule["Properties"]
        for path in TEMPLATES
        for name, rule in resources(load(path), "AWS::Events::Rule").items()
        if "EventPattern" in rule["Properties"]
    }

    stopped_tasks = {
        "template.yaml:TaskStoppedRule",
        "template.yaml:OwnAccountTaskStoppedRule",
        "member-account.yaml:ForwardTaskStoppedRule",
    }
    assert set(rules) == {
        "template.yaml:EcsApiCallsRule",
        "template.yaml:OwnAccountEcsApiCallsRule",
        "member-account.yaml:ForwardEcsApiCallsRule",
        *stopped_tasks,
    }
    for name in stopped_tasks:
        # ECS's own event, for standalone tasks that stopped: a service's tasks are judged through the service.
        assert rules.pop(name)["EventPattern"] == {
            "source": ["aws.ecs"],
            "detail-type": [TASK_STATE_CHANGE],
            "detail": {"lastStatus": ["STOPPED"], "group": [{"anything-but": {"prefix": "service:"}}]},
        }, name
    for name, rule in rules.items():
        pattern = json.loads(json.dumps(rule["EventPattern"]))
        event_names = pattern["detail"].pop("eventName")
        assert pattern == expected_pattern, name
        assert sorted(event_names) == sorted(EVALUATED_CALLS | DELETION_CALLS), name
        assert len(event_names) == len(set(event_names)), name


def test_central_rule_listens_on_the_chosen_bus() -> None:
    template = load()
    bus = template["Resources"]["EcsApiCallsRule"]["Properties"]["EventBusName"]

    assert list(branches(bus)) == [{"Ref": "CentralEventBus"}, {"Ref": "EventBusName"}, "default"]
    policy = statements(template["Resources"]["CentralEventBus"]["Properties"]["Policy"])
    assert [s["Condition"] for s in policy] == [{"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}]
    assert document_actions(template["Resources"]["CentralEventBus"]["Properties"]["Policy"]) == {"events:PutEvents"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_rule_target_retries_and_keeps_what_it_cannot_deliver(path: Path) -> None:
    template = load(path)
    for name, rule in resources(template, "AWS::Events::Rule").items():
        for target in (target for targets in branches(rule["Properties"]["Targets"]) for target in targets):
            assert "DeadLetterConfig" in target, name
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0, name
            queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            queue_policies = [
                p["Properties"]
                for p in resources(template, "AWS::SQS::QueuePolicy").values()
                if {"Ref": queue} in p["Properties"]["Queues"]
            ]
            (document,) = (p["PolicyDocument"] for p in queue_policies)
            sources = [
                source
                for statement in statements(document)
                if statement["Principal"] == {"Service": "events.amazonaws.com"}
                for source in as_list(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
            ]
            assert {"Fn::GetAtt": [name, "Arn"]} in sources, name


def test_functions_retry_twice_then_keep_failed_events_in_the_encrypted_queue() -> None:
    template = load()
    scanner = template["Resources"]["ScannerFunction"]["Properties"]["EventInvokeConfig"]

    assert scanner["MaximumRetryAttempts"] == 2
    assert scanner["MaximumEventAgeInSeconds"] == 6 * 3600
    for function in ASYNC_FUNCTIONS:
        config = template["Resources"][function]["Properties"]["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"] == {
            "Type": "SQS",
            "Destination": {"Fn::GetAtt": ["FailureQueue", "Arn"]},
        }
    for queue in resources(template, "AWS::SQS::Queue").values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Ref": "EncryptionKey"}


def test_alarms_watch_function_errors_and_every_queue_and_notify_the_topic() -> None:
    template = load()
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    watched = {
        (alarm["Properties"]["MetricName"], json.dumps(alarm["Properties"]["Dimensions"][0]["Value"]))
        for alarm in alarms
    }

    assert watched == {("Errors", json.dumps({"Ref": function})) for function in FUNCTIONS} | {
        ("ApproximateNumberOfMessagesVisible", json.dumps({"Fn::GetAtt": [queue, "QueueName"]}))
        for queue in resources(template, "AWS::SQS::Queue")
    } | {
        ("ExecutionsFailed", json.dumps({"Ref": "OrganizationSweepStateMachine"})),
        ("AccountRegionsNotSwept", json.dumps("ecsguard")),
    }
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": "FindingsTopic"}] for alarm in alarms)
    key_policy = template["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in statements(key_policy)]


def test_every_ecsguard_variable_is_a_settings_field() -> None:
    template = load()
    for function in FUNCTIONS:
        environment = function_environment(template, function)
        names = {name for name in environment if name.startswith(PREFIX)}

        assert names, function
        assert {name[len(PREFIX) :].lower() for name in names} <= set(Settings.model_fields), function
        assert environment["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE
        assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "ecsguard"
        assert environment["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_functions_run_on_the_chosen_architecture_with_active_tracing() -> None:
    template = load()
    architecture = template["Parameters"]["Architecture"]

    assert architecture["Default"] == "arm64"
    assert sorted(architecture["AllowedValues"]) == ["arm64", "x86_64"]
    for function in FUNCTIONS:
        assert function_property(template, function, "Architectures") == [{"Ref": "Architecture"}]
        assert function_property(template, function, "Runtime") == "python3.12"
        assert function_property(template, function, "Tracing") == "Active"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_to_its_own_log_group_with_retention(function: str) -> None:
    template = load()
    properties = template["Resources"][function]["Properties"]
    group_name = properties["LoggingConfig"]["LogGroup"]["Ref"]
    group = template["Resources"][group_name]["Properties"]

    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{properties['FunctionName']['Fn::Sub']}"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_layer_puts_the_policies_where_ecsguard_policy_dir_points(tmp_path: Path) -> None:
    # GIVEN the layer as SAM builds it: a copy of ContentUri, the ContextPath Makefile run inside it
    template = load()
    layer = template["Resources"]["PoliciesLayer"]
    source = tmp_path / "scratch"
    shutil.copytree(REPO / layer["Properties"]["ContentUri"], source)
    artifacts = tmp_path / "artifacts"
    makefile = REPO / layer["Metadata"]["ContextPath"] / "Makefile"

    # WHEN the layer's build target runs
    completed = subprocess.run(
        ["make", "--makefile", str(makefile), "build-PoliciesLayer", f"ARTIFACTS_DIR={artifacts}"],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    # THEN /opt/<the layer's folder> is the functions' ECSGUARD_POLICY_DIR and holds every policy file
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    for function in FUNCTIONS:
        policy_dir = PurePosixPath(function_environment(template, function)["ECSGUARD_POLICY_DIR"])
        built = artifacts / policy_dir.relative_to("/opt")
        assert function_property(template, function, "Layers") == [{"Ref": "PoliciesLayer"}]
        assert {p.name: p.read_bytes() for p in built.iterdir()} == {
            p.name: p.read_bytes() for p in (REPO / "policies").iterdir() if p.suffix in (".yaml", ".yml")
        }


def test_layer_build_fails_without_policy_files(tmp_path: Path) -> None:
    makefile = REPO / load()["Resources"]["PoliciesLayer"]["Metadata"]["ContextPath"] / "Makefile"

    completed = subprocess.run(
        ["make", "--makefile", str(makefile), "build-PoliciesLayer", f"ARTIFACTS_DIR={tmp_path / 'out'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode != 0
    assert "no policy files" in completed.stderr


def test_dashboard_body_is_json_with_the_functions_metrics() -> None:
    template = load()
    body, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    placeholders = set(re.findall(r"\$\{([^}]+)\}", body))

    assert placeholders <= set(variables) | {"AWS::Region"}
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    metric_widgets = [widget for widget in dashboard["widgets"] if widget["type"] == "metric"]
    lines = [line for widget in metric_widgets for line in widget["properties"]["metrics"]]
    named = {item for line in lines for item in line if isinstance(item, str)}
    expressions = {
        item["expression"] for line in lines for item in line if isinstance(item, dict) and "expression" in item
    }

    assert {"Events", "Evaluations", "FindingsImported", "NotificationsSent", "SkippedEvents", "FailedEvents"} <= named
    assert {"OlderThanKnown", "ClustersNotListed"} <= named
    assert {"Duration", "Errors", "Throttles"} <= named
    assert {"AccountRegionsSwept", "AccountRegionsNotSwept"} <= named
    assert expressions == {
        f"SEARCH('{{ecsguard,policy_id,service,severity}} MetricName=\"{name}\" service=\"ecsguard\"', 'Sum', 300)"
        for name in ("Failures", "EvaluationErrors")
    }


def test_dashboard_log_tables_read_the_fields_the_sweep_logs() -> None:
    # GIVEN the dashboard's Logs Insights tables and the fields of the sweep function's "sweep done" line
    template = load()
    body, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    queries = [widget["properties"]["query"] for widget in dashboard["widgets"] if widget["type"] == "log"]
    from ecsguard.core.results import Status
    from ecsguard.sweep import RegionReport

    logged = set(RegionReport("111122223333", "eu-west-1").summary()) | {"duration_ms"}
    statuses = {status.value for status in Status}

    # THEN each reads the sweep function's log group, its "sweep done" lines, by account and Region, and only
    # fields that line has
    assert len(queries) == 2
    assert variables["SweepLogs"] == {"Ref": "SweepLogGroup"}
    for query in queries:
        assert query.startswith("SOURCE 'x' | filter message = 'sweep done' | stats ")
        assert " by account, region " in query
        for read in re.findall(r"latest\(([A-Za-z_.]+)\)", query):
            name, _, status = read.partition(".")
            assert name in logged, read
            assert not status or status in statuses, read


def test_security_hub_insights_group_failing_ecsguard_findings() -> None:
    insights = resources(load(), "AWS::SecurityHub::Insight").values()
    expected_filters = {
        "GeneratorId": [{"Value": "ecsguard/", "Comparison": "PREFIX"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "ComplianceStatus": [{"Value": "FAILED", "Comparison": "EQUALS"}],
    }

    assert sorted(i["Properties"]["GroupByAttribute"] for i in insights) == [
        "AwsAccountId",
        "GeneratorId",
        "ResourceId",
    ]
    assert all(i["Properties"]["Filters"] == expected_filters for i in insights)


def test_runtime_pins_have_one_source_inside_the_code_uri() -> None:
    root = (REPO / "requirements.txt").read_text().splitlines()
    code_uri = function_property(load(), "ScannerFunction", "CodeUri")

    assert [line for line in root if line and not line.startswith("#")] == [f"-r {code_uri}requirements.txt"]
    pins = [line for line in (REPO / code_uri / "requirements.txt").read_text().splitlines() if "==" in line]
    assert any(pin.startswith("aws-lambda-powertools==") for pin in pins)


# ---------------------------------------------------------------- who can read the failure queues

READERS = "arn:aws:iam::123456789012:role/ecsguard-operator,arn:aws:iam::123456789012:user/oncall"
READER_PRINCIPAL = {"AWS": {"Ref": "FailureQueueReaders"}}
# What `ecsguard replay QUEUE_URL [--delete]` calls on a queue (the SQS adapter's IAM_ACTIONS): it receives, makes
# the messages it did not replay visible again and deletes the ones it did.
REPLAY_ACTIONS = sqs_adapter.IAM_ACTIONS
CENTRAL_ACCOUNT = "111111111111"
CENTRAL_REGION = "us-east-1"
MEMBER_PARAMETERS = {
    "CentralEventBusArn": f"arn:aws:events:{CENTRAL_REGION}:{CENTRAL_ACCOUNT}:event-bus/ecsguard-central",
    "CentralAccountId": CENTRAL_ACCOUNT,
    "AWS::AccountId": "222222222222",
    "AWS::Region": CENTRAL_REGION,
}
# Each template's failure queues: the parameters a stack needs, the queues' key, each queue's policy.
FAILURE_QUEUES = [
    pytest.param(
        TEMPLATE,
        {},
        "EncryptionKey",
        {"FailureQueue": "FailureQueuePolicy", "EventsDeadLetterQueue": "EventsDeadLetterQueuePolicy"},
        id="template.yaml",
    ),
    pytest.param(
        MEMBER_TEMPLATE,
        MEMBER_PARAMETERS,
        "ForwardingDeadLetterQueueKey",
        {"ForwardingDeadLetterQueue": "ForwardingDeadLetterQueuePolicy"},
        id="member-account.yaml",
    ),
]
FORWARDING = frozenset(
    {
        "ForwardEcsApiCallsRule",
        "ForwardTaskStoppedRule",
        "ForwardingRole",
        "ForwardingDeadLetterQueue",
        "ForwardingDeadLetterQueuePolicy",
        "ForwardingDeadLetterQueueKey",
        "ForwardingDeadLetterQueueAlarm",
    }
)


def without_sid(statement: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in statement.items() if key != "Sid"}


def granted_to_readers(stack: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The statements of each deployed resource's policies whose principal is the readers parameter."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, resource in stack.items():
        for document in policy_documents(resource):
            for statement in statements(document):
                if json.dumps(READER_PRINCIPAL) in json.dumps(statement.get("Principal")):
                    found.setdefault(name, []).append(statement)
    return found


@pytest.mark.parametrize(("path", "parameters", "key", "queues"), FAILURE_QUEUES)
def test_key_policy_with_readers_lets_them_only_decrypt_through_sqs(
    path: Path, parameters: dict[str, str], key: str, queues: dict[str, str]
) -> None:
    # GIVEN a stack whose FailureQueueReaders names two principals
    stack = deployed(load(path), {**parameters, "FailureQueueReaders": READERS})

    # WHEN the policies that name them are read
    granted = granted_to_readers(stack)

    # THEN the key lets exactly them decrypt, through SQS in this account and Region, and nothing else
    assert [without_sid(statement) for statement in granted[key]] == [
        {
            "Effect": "Allow",
            "Principal": READER_PRINCIPAL,
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"},
                    "kms:CallerAccount": {"Ref": "AWS::AccountId"},
                }
            },
        }
    ]
    # and only the key and the failure queues' policies name them at all
    assert set(granted) == {key, *queues.values()}


@pytest.mark.parametrize(("path", "parameters", "key", "queues"), FAILURE_QUEUES)
def test_queue_policies_with_readers_grant_them_exactly_what_replay_calls(
    path: Path, parameters: dict[str, str], key: str, queues: dict[str, str]
) -> None:
    stack = deployed(load(path), {**parameters, "FailureQueueReaders": READERS})
    granted = granted_to_readers(stack)

    for queue, policy in queues.items():
        assert stack[policy]["Properties"]["Queues"] == [{"Ref": queue}]
        (statement,) = granted[policy]
        assert actions(statement) == REPLAY_ACTIONS, policy
        assert without_sid(statement) == {
            "Effect": "Allow",
            "Principal": READER_PRINCIPAL,
            "Action": sorted(REPLAY_ACTIONS, key=statement["Action"].index),
            "Resource": {"Fn::GetAtt": [queue, "Arn"]},
        }


@pytest.mark.parametrize(("path", "parameters", "key", "queues"), FAILURE_QUEUES)
def test_policies_without_readers_name_no_reader(
    path: Path, parameters: dict[str, str], key: str, queues: dict[str, str]
) -> None:
    template = load(path)
    stack = deployed(template, parameters)

    assert template["Parameters"]["FailureQueueReaders"]["Type"] == "CommaDelimitedList"
    assert template["Parameters"]["FailureQueueReaders"]["Default"] == ""
    assert conditions(template, parameters)["HasFailureQueueReaders"] is False
    assert granted_to_readers(stack) == {}
    assert '"FailureQueueReaders"' not in json.dumps(stack)
    assert {key, *queues, *queues.values()} <= set(stack)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_failure_queue_readers_parameter_takes_role_or_user_arns_or_nothing(path: Path) -> None:
    pattern = load(path)["Parameters"]["FailureQueueReaders"]["AllowedPattern"]

    # CloudFormation matches the pattern against each item of the list.
    for accepted in ["", *READERS.split(","), "arn:aws-us-gov:iam::123456789012:role/path/to/replayer"]:
        assert re.fullmatch(pattern, accepted), accepted
    for rejected in [
        "arn:aws:iam::123456789012:root",
        " arn:aws:iam::123456789012:role/ecsguard-operator",
        "arn:aws:sts::123456789012:assumed-role/ecsguard-operator/alice",
        "ecsguard-operator",
    ]:
        assert not re.fullmatch(pattern, rejected), rejected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(
            TEMPLATE,
            {
                "cloudwatch.amazonaws.com": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*",
                "events.amazonaws.com": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*",
            },
            id="template.yaml",
        ),
        pytest.param(
            MEMBER_TEMPLATE,
            {"events.amazonaws.com": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"},
            id="member-account.yaml",
        ),
    ],
)
def test_key_policy_lets_services_use_the_key_only_for_this_accounts_sources(
    path: Path, expected: dict[str, str]
) -> None:
    for name, key in resources(load(path), "AWS::KMS::Key").items():
        services = [s for s in statements(key["Properties"]["KeyPolicy"]) if "Service" in s["Principal"]]

        assert sorted(s["Principal"]["Service"] for s in services) == sorted(expected), name
        for statement in services:
            assert statement["Condition"] == {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": {"Fn::Sub": expected[statement["Principal"]["Service"]]}},
            }, name
            assert actions(statement) == {"kms:GenerateDataKey", "kms:Decrypt"}, name


def test_sweep_runs_one_at_a_time_and_the_scanner_is_not_limited() -> None:
    template = load()

    # One at a time for this account; the organization sweep's tasks (one per account and Region) are limited by
    # the state machine instead.
    assert template["Resources"]["SweepFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["OrganizationMode", {"Ref": "AWS::NoValue"}, 1]
    }
    assert "ReservedConcurrentExecutions" not in template["Resources"]["ScannerFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" not in template["Globals"]["Function"]


# ---------------------------------------------------------------- member stacks in the central account


@pytest.mark.parametrize(
    ("account", "region", "forwards"),
    [
        (CENTRAL_ACCOUNT, CENTRAL_REGION, False),
        (CENTRAL_ACCOUNT, "eu-west-1", True),
        ("222222222222", CENTRAL_REGION, True),
        ("222222222222", "eu-west-1", True),
    ],
)
def test_member_stack_forwards_everywhere_but_the_central_accounts_home_region(
    account: str, region: str, forwards: bool
) -> None:
    # GIVEN the member template in an account and Region
    template = load(MEMBER_TEMPLATE)
    parameters = {**MEMBER_PARAMETERS, "AWS::AccountId": account, "AWS::Region": region}

    # WHEN its conditions are evaluated
    stack = deployed(template, parameters)
    outputs = deployed(template, parameters, section="Outputs")

    # THEN it forwards unless the central rules already receive these events; the role is unaffected
    assert {name for name, r in template["Resources"].items() if r.get("Condition") == "Forward"} == FORWARDING
    assert (set(stack) & FORWARDING) == (FORWARDING if forwards else set())
    assert ({"ForwardingRuleArn", "ForwardingDeadLetterQueueUrl"} <= set(outputs)) is forwards
    assert "MemberRole" in stack
    assert "NothingToForward" not in stack


def test_member_stack_in_the_central_home_region_without_the_role_still_creates_a_resource() -> None:
    template = load(MEMBER_TEMPLATE)
    parameters = {**MEMBER_PARAMETERS, "AWS::AccountId": CENTRAL_ACCOUNT, "CreateMemberRole": "false"}

    stack = deployed(template, parameters)

    assert list(stack) == ["NothingToForward"]
    assert stack["NothingToForward"]["Type"] == "AWS::CloudFormation::WaitConditionHandle"
    assert "NothingToForward" not in deployed(template, {**parameters, "AWS::Region": "eu-west-1"})


def test_member_dead_letter_queue_is_encrypted_with_its_own_rotating_key() -> None:
    template = load(MEMBER_TEMPLATE)
    queue = template["Resources"]["ForwardingDeadLetterQueue"]["Properties"]
    key = template["Resources"]["ForwardingDeadLetterQueueKey"]["Properties"]

    assert list(resources(template, "AWS::SQS::Queue")) == ["ForwardingDeadLetterQueue"]
    assert queue["KmsMasterKeyId"] == {"Ref": "ForwardingDeadLetterQueueKey"}
    assert "SqsManagedSseEnabled" not in queue
    assert key["EnableKeyRotation"] is True
    (member_admin,) = (s for s in statements(key["KeyPolicy"]) if s["Sid"] == "AccountAdministersTheKey")
    central_key = load()["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]
    (central_admin,) = (s for s in statements(central_key) if s["Sid"] == "AccountAdministersTheKey")
    assert member_admin == central_admin
    assert not actions(member_admin) & {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"}


def test_member_dead_letter_queue_alarm_watches_its_depth_and_says_what_to_do() -> None:
    alarms = resources(load(MEMBER_TEMPLATE), "AWS::CloudWatch::Alarm")

    assert list(alarms) == ["ForwardingDeadLetterQueueAlarm"]
    alarm = alarms["ForwardingDeadLetterQueueAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ForwardingDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Maximum",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    # The member template has no topic: the description is what an operator has to go on.
    assert "AlarmActions" not in alarm
    assert "ecsguard replay" in alarm["AlarmDescription"]
    assert "ForwardingDeadLetterQueueUrl" in alarm["AlarmDescription"]
