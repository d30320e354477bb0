"""The organization sweep end to end: template.yaml's state machine run by moto's Step Functions (its ASL
interpreter), its Lambda tasks served by the functions' own handlers (emulated_lambda), over several accounts of a
moto organization (moto takes any 12-digit account through assumed roles) and two Regions.

The definition is the file template.yaml names, with template.yaml's substitutions; the one change made to it here
is shorter retry intervals (1 s), so that a task that fails every attempt does not hold the test for minutes.
"""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from emulated_aws import ACCOUNT, REGION, Aws, member_session
from emulated_lambda import REPO, EmulatedLambda, load_template

from ecsguard.core.findings import ACCOUNT_COVERAGE
from ecsguard.core.models import ResourceType
from policy_catalog import SAMPLE_EVENT_POLICIES, narrowed, narrowed_policy_dir

WEST = "eu-west-1"
REGIONS = [REGION, WEST]
MEMBER_ROLE = "ecsguard-member"
PLANTED_SECRET = "planted-Pa55word-7f3e1c"  # a plaintext secret in every member's task definition


@pytest.fixture
def policy_dir() -> Path:
    return narrowed_policy_dir(SAMPLE_EVENT_POLICIES)


def plant(account: str, region: str, clusters: tuple[str, ...] = ("prod",)) -> dict[str, list[str]]:
    """In ``account`` and ``region``: a task definition with a plaintext secret, a bridge one, and in each cluster
    a service running the bridge one; the ARNs of what the sweep evaluates, by kind."""
    ecs = member_session(account, region).client("ecs")
    image = f"{account}.dkr.ecr.{region}.amazonaws.com/app:1"
    secret = {"name": "DB_PASSWORD", "value": PLANTED_SECRET}
    ecs.register_task_definition(
        family="billing",
        networkMode="awsvpc",
        containerDefinitions=[{"name": "app", "image": image, "memory": 256, "environment": [secret]}],
    )
    ecs.register_task_definition(
        family="web", networkMode="bridge", containerDefinitions=[{"name": "app", "image": image, "memory": 256}]
    )
    prefix = f"arn:aws:ecs:{region}:{account}:"
    for cluster in clusters:
        ecs.create_cluster(clusterName=cluster)
        ecs.create_service(cluster=cluster, serviceName="web", taskDefinition="web:1", desiredCount=1, launchType="EC2")
    return {
        "task_definitions": [f"{prefix}task-definition/billing:1", f"{prefix}task-definition/web:1"],
        "services": [f"{prefix}service/{cluster}/web" for cluster in clusters],
        "clusters": [f"{prefix}cluster/{cluster}" for cluster in clusters],
    }


def expected_ids(planted: dict[str, list[str]]) -> set[str]:
    policies = narrowed(SAMPLE_EVENT_POLICIES).policies
    of_type = {
        kind: [p.id for p in policies if p.resource_type is resource_type]
        for kind, resource_type in (
            ("task_definitions", ResourceType.TASK_DEFINITION),
            ("services", ResourceType.SERVICE),
            ("clusters", ResourceType.CLUSTER),
        )
    }
    return {f"ecsguard/{policy}/{arn}" for kind, arns in planted.items() for arn in arns for policy in of_type[kind]}


def findings_of(session: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in session.client("securityhub").get_paginator("get_findings").paginate():
        found.update({finding["Id"]: finding for finding in page["Findings"]})
    return found


def security_hub_needs_enabling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 answers GetFindings and BatchImportFindings in an account and Region where Security Hub is not
    enabled; AWS answers InvalidAccessException (MOTO.md). Make moto's backend do as AWS does."""
    from moto.securityhub.exceptions import SecurityHubClientError
    from moto.securityhub.models import SecurityHubBackend

    for name in ("get_findings", "batch_import_findings"):
        original = getattr(SecurityHubBackend, name)

        def guarded(self: SecurityHubBackend, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if not self.enabled:
                message = f"Account {self.account_id} is not subscribed to AWS Security Hub"
                raise SecurityHubClientError("InvalidAccessException", message)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(SecurityHubBackend, name, guarded)


def _moto_config(endpoint: str, execute: bool) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": execute}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def _shortened(node: Any) -> Any:
    if isinstance(node, dict):
        if "IntervalSeconds" in node:
            node.update({"IntervalSeconds": 1, "BackoffRate": 1.0})
            node.pop("MaxDelaySeconds", None)
        for value in node.values():
            _shortened(value)
    elif isinstance(node, list):
        for value in node:
            _shortened(value)
    return node


class Organization:
    """The central stack's organization sweep in moto: its functions and state machine."""

    def __init__(self, aws: Aws, emulator: EmulatedLambda, template: dict[str, Any]) -> None:
        self.aws = aws
        self.lambdas = emulator
        self.template = template
        self.stepfunctions = boto3.client("stepfunctions", region_name=REGION)

    def definition(self) -> str:
        machine = self.template["Resources"]["OrganizationSweepStateMachine"]["Properties"]
        text = (REPO / machine["DefinitionUri"]).read_text(encoding="utf-8")
        values = {"Partition": "aws"}
        for name, value in machine["DefinitionSubstitutions"].items():
            if "Fn::GetAtt" in value:
                values[name] = self.lambdas.arn(value["Fn::GetAtt"][0])
        assert set(values) == set(machine["DefinitionSubstitutions"])
        for name, value in values.items():
            text = text.replace("${" + name + "}", value)
        assert "${" not in text
        return json.dumps(_shortened(json.loads(text)))

    def create(self, definition: str | None = None) -> str:
        return str(
            self.stepfunctions.create_state_machine(
                name="ecsguard-organization-sweep",
                definition=definition or self.definition(),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/ecsguard-organization-sweep",
            )["stateMachineArn"]
        )

    def run(self, given: dict[str, Any] | None = None, timeout: float = 180) -> dict[str, Any]:
        """Start the state machine as the schedule does (input ``{}``, or ``given``) and wait for its end."""
        execution = self.stepfunctions.start_execution(stateMachineArn=self.create(), input=json.dumps(given or {}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.stepfunctions.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                described["history"] = self.stepfunctions.get_execution_history(
                    executionArn=execution["executionArn"], maxResults=1000
                )["events"]
                return dict(described)
            time.sleep(0.1)
        raise AssertionError("the organization sweep did not finish in time")


@pytest.fixture
def organization(
    aws: Aws, configure: Callable[..., None], policy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Organization]:
    security_hub_needs_enabling(monkeypatch)
    template = load_template()
    emulator = EmulatedLambda(ACCOUNT, REGION)
    parameters = {
        "OrganizationSweep": "true",
        "SweepRegions": ",".join(REGIONS),
        "MemberRoleName": MEMBER_ROLE,
        "SweepConcurrency": "2",
    }
    references = {"FindingsTopic": aws.topic_arn}
    local = {"policy_dir": str(policy_dir), "packs": "all", "aws_max_attempts": "2"}
    for function in ("SweepFunction", "OrganizationFunction"):
        emulator.add(template, function, parameters, references, **local)
    port = emulator.start()
    monkeypatch.setenv("MOTO_PORT", str(port))  # where moto's Step Functions sends Lambda's Invoke
    _moto_config(aws.endpoint, execute=True)
    try:
        yield Organization(aws, emulator, template)
    finally:
        _moto_config(aws.endpoint, execute=False)
        emulator.stop()


def organization_accounts(count: int) -> list[str]:
    """An organization in moto, managed from the central account, with ``count`` member accounts."""
    client = boto3.client("organizations", region_name=REGION)
    client.create_organization(FeatureSet="ALL")
    created = [
        client.create_account(Email=f"member{n}@example.com", AccountName=f"member-{n}")["CreateAccountStatus"]
        for n in range(count)
    ]
    return [status["AccountId"] for status in created]


# --- the definition ------------------------------------------------------------------------------------


def transitions(machine: dict[str, Any], where: str = "") -> list[str]:
    """What statelint checks beyond the grammar, which moto's parser checks: every state a transition names exists,
    every state is reachable from StartAt, every path ends; nested machines (Map's ItemProcessor) alike."""
    states = machine["States"]
    problems = [] if machine["StartAt"] in states else [f"{where}StartAt names no state"]
    reachable, pending = set(), [machine["StartAt"]]
    while pending:
        name = pending.pop()
        if name in reachable or name not in states:
            continue
        reachable.add(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice.get("Next") for choice in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        for target in filter(None, targets):
            if target not in states:
                problems.append(f"{where}{name}: names no state {target}")
            pending.append(target)
        ends = state["Type"] in {"Succeed", "Fail", "Choice"} or state.get("End") is True
        if not ends and "Next" not in state:
            problems.append(f"{where}{name}: neither Next nor End")
        if "ItemProcessor" in state:
            problems += transitions(state["ItemProcessor"], f"{where}{name}/")
    problems += [f"{where}{name}: unreachable" for name in states if name not in reachable]
    return problems


def test_state_machine_definition_is_accepted_by_the_asl_interpreter_and_checks_as_statelint_does(
    organization: Organization,
) -> None:
    # GIVEN the definition template.yaml deploys, a copy with a field the language does not have, and a copy whose
    # first state goes to a state that does not exist
    definition = organization.definition()
    misspelled = json.loads(definition)
    misspelled["States"]["ListAccounts"]["Retries"] = misspelled["States"]["ListAccounts"].pop("Retry")
    dangling = json.loads(definition)
    dangling["States"]["ListAccounts"]["Next"] = "NoSuchState"

    # WHEN each is given to Step Functions and to the transition checks
    accepted = organization.create(definition)

    # THEN the deployed one is a state machine with sound transitions; the misspelled one is rejected as an
    # invalid definition, and the dangling one fails the checks
    assert accepted.endswith(":stateMachine:ecsguard-organization-sweep")
    assert transitions(json.loads(definition)) == []
    with pytest.raises(ClientError, match=r"ASLParserException.*Retries"):
        organization.stepfunctions.create_state_machine(
            name="misspelled", definition=json.dumps(misspelled), roleArn=f"arn:aws:iam::{ACCOUNT}:role/x"
        )
    assert transitions(dangling) == [
        "ListAccounts: names no state NoSuchState",
        "SweepAccounts: unreachable",
        "Swept: unreachable",
    ]


# --- end to end ---------------------------------------------------------------------------------------


def test_organization_sweep_lands_each_accounts_findings_in_that_account_and_marks_the_one_it_could_not_sweep(
    organization: Organization,
) -> None:
    # GIVEN an organization of three member accounts besides the central one; two with Security Hub on in both
    # Regions and ECS resources there, the third without Security Hub (its sweep fails every attempt)
    members = organization_accounts(3)
    good, broken = members[:2], members[2]
    boto3.client("securityhub", region_name=WEST).enable_security_hub()  # the central account's, as in us-east-1
    planted = {}
    for account in good:
        for region in REGIONS:
            member_session(account, region).client("securityhub").enable_security_hub()
            planted[(account, region)] = plant(account, region)
    plant(broken, REGION)
    # AND a coverage finding from an earlier run that could not sweep the first account in us-east-1
    earlier = f"ecsguard/{ACCOUNT_COVERAGE}/AWS::::Account:{good[0]}/{REGION}"
    organization.lambdas.invoke(
        "/functions/ecsguard-organization/invocations",
        {"step": "failed", "account": good[0], "region": REGION, "error": {"Error": "States.Timeout"}},
    )
    assert organization.aws.findings()[earlier]["RecordState"] == "ACTIVE"

    # WHEN the schedule starts the organization sweep
    execution = organization.run()

    # THEN it succeeded, having swept every account of the organization (the central one too) in both Regions
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    swept = {(i.payload["account"], i.payload["region"]) for i in organization.lambdas.of("SweepFunction")}
    assert swept == {(account, region) for account in [ACCOUNT, *members] for region in REGIONS}
    # AND each good account's findings are in that account and Region, with its id, and nowhere else
    for (account, region), arns in planted.items():
        findings = findings_of(member_session(account, region))
        assert set(findings) == expected_ids(arns), (account, region)
        assert {(f["AwsAccountId"], f["Region"]) for f in findings.values()} == {(account, region)}
        secrets = findings[f"ecsguard/ecs-secrets-managed/{arns['task_definitions'][0]}"]
        assert secrets["Compliance"]["Status"] == "FAILED"
    # AND the account that could not be swept has one NOT_AVAILABLE finding per Region in the central account
    central = organization.aws.findings()
    coverage = {i: f for i, f in central.items() if f["GeneratorId"] == f"ecsguard/{ACCOUNT_COVERAGE}"}
    active = {i for i, f in coverage.items() if f["RecordState"] == "ACTIVE"}
    assert active == {f"ecsguard/{ACCOUNT_COVERAGE}/AWS::::Account:{broken}/{region}" for region in REGIONS}
    for identifier in active:
        finding = coverage[identifier]
        assert finding["AwsAccountId"] == ACCOUNT
        assert finding["Compliance"]["Status"] == "NOT_AVAILABLE"
        assert finding["Resources"][0]["Id"] == f"AWS::::Account:{broken}"
        assert "InvalidAccessException" in finding["Description"]
    # AND the earlier one of the first account, swept now, is archived
    assert coverage[earlier]["RecordState"] == "ARCHIVED"
    # AND the central account holds no ECS finding of a member
    assert set(central) == set(coverage)
    # AND the failed task was tried four times before it was recorded, and recorded once per Region
    attempts = [i for i in organization.lambdas.of("SweepFunction") if i.payload["account"] == broken]
    assert len(attempts) == 4 * len(REGIONS)
    assert all(i.error == "Unhandled" for i in attempts)
    failed = [i for i in organization.lambdas.of("OrganizationFunction") if i.payload["step"] == "failed"]
    assert sorted(i.payload["region"] for i in failed if i.payload["account"] == broken) == sorted(REGIONS)
    # AND the planted secret appears in no task's answer and nowhere in the execution's history
    assert PLANTED_SECRET not in json.dumps([i.answer for i in organization.lambdas.invocations], default=str)
    assert PLANTED_SECRET not in json.dumps(execution["history"], default=str)


def test_organization_sweep_of_the_given_accounts_splits_a_region_by_cluster_when_time_runs_short(
    organization: Organization,
) -> None:
    # GIVEN one member account with three clusters in us-east-1, and the findings of an earlier sweep there
    (member,) = organization_accounts(1)
    session = member_session(member, REGION)
    session.client("securityhub").enable_security_hub()
    planted = plant(member, REGION, clusters=("alpha", "beta", "gamma"))
    # AND a sweep function whose invocations have 65 s left (10 s of it kept in hand): less than the 60 s a sweep
    # keeps for the rest, so each invocation sweeps one cluster and hands the others on
    organization.lambdas.functions["SweepFunction"].timeout = 65

    # WHEN an execution started by hand names that account and Region only
    execution = organization.run({"accounts": [member], "regions": [REGION]})

    # THEN it succeeded in four invocations: the task definitions, then one cluster each
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    inputs = [i.payload for i in organization.lambdas.of("SweepFunction")]
    assert inputs == [
        {"account": member, "region": REGION},
        {"account": member, "region": REGION, "clusters": planted["clusters"]},
        {"account": member, "region": REGION, "clusters": planted["clusters"][1:]},
        {"account": member, "region": REGION, "clusters": planted["clusters"][2:]},
    ]
    # AND every resource of the account has its findings, and none was archived on the way
    findings = findings_of(session)
    assert set(findings) == expected_ids(planted)
    assert {f["RecordState"] for f in findings.values() if f["Compliance"]["Status"] != "NOT_AVAILABLE"} == {"ACTIVE"}
    # AND it was recorded as swept once
    recorded = [i.payload for i in organization.lambdas.of("OrganizationFunction") if i.payload["step"] != "accounts"]
    assert recorded == [{"step": "swept", "account": member, "region": REGION}]


def test_organization_sweep_input_that_names_no_account_ids_fails_naming_the_field_not_the_text(
    organization: Organization,
) -> None:
    # WHEN an execution is started by hand with a malformed account list
    execution = organization.run({"accounts": ["not-an-account-id"], "regions": [REGION]})

    # THEN it fails in the first state, without retrying, naming the field and the kind of problem; the error
    # (the execution's input is in its history, as Step Functions keeps it) does not repeat the text given
    assert execution["status"] == "FAILED"
    assert execution["error"] == "EventFailed"
    cause = json.loads(execution["cause"])
    assert cause["errorMessage"] == (
        "invalid organization sweep input: accounts: Value error, account 0 is not a 12-digit account id"
    )
    failures = [e["taskFailedEventDetails"] for e in execution["history"] if e["type"] == "TaskFailed"]
    assert len(failures) == 1  # the same input fails the same way: not retried
    assert all("not-an-account-id" not in json.dumps(failure) for failure in failures)
    assert organization.lambdas.of("SweepFunction") == []


def test_emulated_function_settings_come_from_the_template(organization: Organization) -> None:
    # The sweep function assumes the member role of template.yaml's parameter, and the organization function
    # sweeps the Regions and the concurrency the stack was given.
    sweep = organization.lambdas.functions["SweepFunction"].settings
    plan = organization.lambdas.functions["OrganizationFunction"].settings

    assert sweep.member_role_name == MEMBER_ROLE
    assert (plan.sweep_regions, plan.sweep_concurrency) == (REGIONS, 2)
    assert copy.deepcopy(plan).security_hub is True
