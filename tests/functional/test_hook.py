"""The CloudFormation Lambda hook end to end: a real-shaped request (events/hook/cloudformation-hook-*.json) through the
wiring's Hook and the Lambda handler, the service's task definition from moto in server mode through the fault
proxy (which counts every AWS request), one test per kind of answer.

The answers are AWS's documented shapes (CloudFormation Hooks User Guide, "Create Lambda functions to evaluate
resources for Lambda Hooks"): hookStatus SUCCESS, or FAILED with errorCode NonCompliant or InternalFailure, a
message, and the request's clientRequestToken.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emulated_aws import ACCOUNT, REGION, Aws, load_event, register_sample_task_definitions
from fault_proxy import FaultProxy

from ecsguard import hook as hooks
from ecsguard.adapters import aws as aws_adapter
from ecsguard.core.cloudformation import to_api
from ecsguard.core.engine import PolicySet
from ecsguard.core.models import ResourceType
from ecsguard.core.resources import Unresolved, build_task_definition
from ecsguard.core.results import Status
from ecsguard.handlers import hook as hook_handler
from ecsguard.observability import logger
from ecsguard.settings import Settings
from ecsguard.wiring import build_hook
from policy_catalog import POLICY_DIR, SAMPLE_EVENT_POLICIES, catalog, narrowed, narrowed_policy_dir

TASK_DEFINITION_REQUEST = "hook/cloudformation-hook-task-definition.json"
SERVICE_REQUEST = "hook/cloudformation-hook-service.json"
# The plaintext secret the task definition request carries (events/hook/cloudformation-hook-task-definition.json).
PLANTED = "Hook-Sample-Pw-7731"
TASK_DEFINITION_ID = "billing#BillingWorkerTaskDefinition"
SERVICE_ID = "reports#ReportsService"
TD_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition"
NAMED = re.compile(r"\[(?:INFORMATIONAL|LOW|MEDIUM|HIGH|CRITICAL)\] ([a-z0-9-]+) \(")


def request(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_event(name))


def properties(hook_request: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = hook_request["requestData"]["targetModel"]["resourceProperties"]
    return found


def hook_over(selected: Iterable[str] | None = None) -> hooks.Hook:
    """The wiring's hook over the named policies of policies/ (None: the whole catalog), every pack of them."""
    directory = POLICY_DIR if selected is None else narrowed_policy_dir(selected)
    settings = Settings.from_environment(
        {"ECSGUARD_POLICY_DIR": str(directory), "ECSGUARD_PACKS": "all", "ECSGUARD_AWS_MAX_ATTEMPTS": "2"}
    )
    return build_hook(settings)


def named_policies(message: str) -> list[str]:
    return NAMED.findall(message)


def verdicts(policy_set: PolicySet, task_definition: dict[str, Any], status: Status) -> set[str]:
    """What the engine itself says of these CloudFormation properties: the policies with ``status``."""
    resource = build_task_definition(to_api(task_definition), "expected")
    return {result.policy_id for result in policy_set.evaluate([resource]) if result.status is status}


@pytest.fixture
def proxy(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The hook's AWS clients go through a fault proxy in front of moto, which records every request."""
    with FaultProxy(aws.endpoint) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
        aws_adapter.client.cache_clear()
        yield fault_proxy
    aws_adapter.client.cache_clear()


# ---------------------------------------------------------------- SUCCESS


def test_hook_compliant_task_definition_answers_success() -> None:
    # GIVEN the sample request with its plaintext password moved to Secrets Manager (one field changed)
    hook_request = request(TASK_DEFINITION_REQUEST)
    container = properties(hook_request)["ContainerDefinitions"][0]
    container["Environment"] = container["Environment"][:1]
    container["Secrets"] = [
        {"Name": "DB_PASSWORD", "ValueFrom": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:billing/db-AbCdEf"}
    ]

    # WHEN the hook over the sample's policies answers it
    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    # THEN it is SUCCESS, with the request's token, after judging every task definition policy loaded
    assert outcome.response == {
        "hookStatus": "SUCCESS",
        "message": f"ecsguard: {TASK_DEFINITION_ID} complies with the 3 policies that apply to it",
        "clientRequestToken": hook_request["clientRequestToken"],
    }
    assert {r.policy_id for r in outcome.results} == {p.id for p in narrowed().for_type(ResourceType.TASK_DEFINITION)}


# ---------------------------------------------------------------- FAILED, NonCompliant


def test_hook_noncompliant_task_definition_names_failing_policy_and_remediation() -> None:
    hook_request = request(TASK_DEFINITION_REQUEST)

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    secrets = narrowed().by_id["ecs-secrets-managed"]
    remediation = " ".join(secrets.document.remediation.text.split())
    assert outcome.response == {
        "hookStatus": "FAILED",
        "errorCode": "NonCompliant",
        "message": (
            f"ecsguard: {TASK_DEFINITION_ID}: 1 of the 3 policies that apply fail: [HIGH] ecs-secrets-managed "
            f"({secrets.title}) at containerDefinitions[0].environment[1]: {remediation} "
            f"{secrets.document.remediation.url}"
        ),
        "clientRequestToken": hook_request["clientRequestToken"],
    }
    assert len(outcome.response["message"]) <= hooks.MESSAGE_LIMIT
    assert PLANTED not in json.dumps(outcome.response)
    assert outcome.summary()["failed_policies"] == ["ecs-secrets-managed"]


def test_hook_many_failures_message_stays_under_the_limit_most_severe_first() -> None:
    # GIVEN a task definition that breaks much of the catalog (its secret planted in an environment value)
    hook_request = request(TASK_DEFINITION_REQUEST)
    bad = properties(hook_request)
    bad.update({"NetworkMode": "host", "PidMode": "host", "IpcMode": "host", "RequiresCompatibilities": ["EC2"]})
    container = bad["ContainerDefinitions"][0]
    container.update(
        {
            "Image": "docker.io/library/nginx:latest",
            "Privileged": "true",
            "ReadonlyRootFilesystem": "false",
            "User": "root",
            "LinuxParameters": {"Capabilities": {"Add": ["SYS_ADMIN", "NET_ADMIN"]}},
        }
    )
    container.pop("LogConfiguration")
    container.pop("Memory")
    policy_set = catalog()
    expected = verdicts(policy_set, bad, Status.FAIL)
    by_id = policy_set.by_id

    def rank(policy_id: str) -> tuple[int, str]:
        return (-by_id[policy_id].severity.rank, policy_id)

    # WHEN the hook over the whole catalog answers it
    outcome = hook_over().answer(hook_request)

    # THEN the failures are the engine's, and the message fits, naming the most severe first, the rest counted
    message = outcome.response["message"]
    named = named_policies(message)
    assert (outcome.response["hookStatus"], outcome.response["errorCode"]) == ("FAILED", "NonCompliant")
    assert set(outcome.summary()["failed_policies"]) == expected
    assert len(expected) >= 8, "the request should fail enough policies to need shortening"
    assert len(message) <= hooks.MESSAGE_LIMIT
    assert PLANTED not in message
    errors = outcome.summary()["error_policies"]
    ranked = [*sorted(expected, key=rank), *sorted(errors, key=rank)]
    assert named == ranked[: len(named)]
    left = len(ranked) - len(named)
    if left:  # those that did not fit, even named alone, are counted
        assert message.endswith(f" | and {left} more")
    # the most severe failure keeps its remediation
    first = by_id[ranked[0]]
    assert f"{first.title}) at " in message
    assert " ".join(first.document.remediation.text.split()) in message


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (200, "head: AAAA full | BBBB full | CCCC full | DDDD full | EEEE full"),
        (57, "head: AAAA full | BBBB full | CCCC full | DDDD | EEEE"),
        (38, "head: AAAA | BBBB | CCCC | DDDD | EEEE"),
        (37, "head: AAAA full | BBBB | and 3 more"),
        (27, "head: AAAA | and 4 more"),
        (22, "head: and 5 more"),
        (10, "head: a..."),
    ],
)
def test_hook_message_fit_shortens_in_steps(limit: int, expected: str) -> None:
    # Every entry in full; the first ones in full and the rest short; the first in full, as many short ones as fit
    # and a count; short ones and a count; then cut.
    entries = [(f"{letter * 4} full", letter * 4) for letter in "ABCDE"]

    text = hooks._fit("head: ", entries, limit)

    assert text == expected
    assert len(text) <= limit


# ---------------------------------------------------------------- FAILED, InternalFailure: malformed requests


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    node = document
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return document


def _with(document: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            lambda r: _with(r, f"password={PLANTED}", "requestData", "targetModel", "resourceProperties"),
            "requestData.targetModel.resourceProperties: Input should be a valid dictionary",
            id="properties-not-an-object",
        ),
        pytest.param(
            lambda r: _without(r, "requestData", "targetLogicalId"),
            "requestData.targetLogicalId: Field required",
            id="no-logical-id",
        ),
        pytest.param(
            lambda r: _with(r, PLANTED, "actionInvocationPoint"),
            "actionInvocationPoint: Input should be 'CREATE_PRE_PROVISION', 'UPDATE_PRE_PROVISION' or "
            "'DELETE_PRE_PROVISION'",
            id="unknown-invocation-point",
        ),
        pytest.param(
            lambda r: _without(r, "requestData", "targetModel", "resourceProperties"),
            "requestData.targetModel.resourceProperties: a CREATE_PRE_PROVISION request needs the proposed "
            "properties (an object)",
            id="create-without-properties",
        ),
        pytest.param(
            lambda r: _with(r, [PLANTED], "requestData", "targetName"),
            "requestData.targetName: Input should be a valid string",
            id="target-name-not-text",
        ),
    ],
)
def test_hook_malformed_request_answers_internal_failure_naming_the_problem(change: Any, problem: str) -> None:
    hook_request = change(request(TASK_DEFINITION_REQUEST))

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    assert outcome.response == {
        "hookStatus": "FAILED",
        "errorCode": "InternalFailure",
        "message": f"ecsguard: malformed hook request: {problem}",
        "clientRequestToken": hook_request["clientRequestToken"],
    }
    assert PLANTED not in json.dumps(outcome.response)
    assert outcome.problem == "malformed"


def test_hook_request_without_token_answers_internal_failure_without_one() -> None:
    hook_request = _without(request(TASK_DEFINITION_REQUEST), "clientRequestToken")

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    assert outcome.response == {
        "hookStatus": "FAILED",
        "errorCode": "InternalFailure",
        "message": "ecsguard: malformed hook request: clientRequestToken: Field required",
    }


@pytest.mark.parametrize("not_an_object", [[PLANTED], PLANTED, None])
def test_hook_request_that_is_not_an_object_answers_internal_failure(not_an_object: Any) -> None:
    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(not_an_object)

    assert outcome.response["hookStatus"] == "FAILED"
    assert outcome.response["errorCode"] == "InternalFailure"
    assert outcome.response["message"].startswith("ecsguard: malformed hook request: the request is not a JSON object")
    assert PLANTED not in json.dumps(outcome.response)


@pytest.mark.parametrize(
    ("target_name", "shown"), [("AWS::S3::Bucket", "AWS::S3::Bucket"), (PLANTED, "(a type name not shown)")]
)
def test_hook_request_for_another_type_answers_internal_failure(target_name: str, shown: str) -> None:
    hook_request = _with(request(TASK_DEFINITION_REQUEST), target_name, "requestData", "targetName")

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    assert outcome.response["errorCode"] == "InternalFailure"
    assert outcome.response["message"] == (
        f"ecsguard: the hook judges AWS::ECS::TaskDefinition and AWS::ECS::Service, not {shown}; its TargetFilters "
        "should name only those"
    )


def test_hook_delete_answers_success_without_judging() -> None:
    hook_request = _with(request(TASK_DEFINITION_REQUEST), "DELETE_PRE_PROVISION", "actionInvocationPoint")
    _with(hook_request, None, "requestData", "targetModel", "resourceProperties")

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    assert outcome.response["hookStatus"] == "SUCCESS"
    assert outcome.response["message"] == f"ecsguard: deleting {TASK_DEFINITION_ID} is not judged"
    assert outcome.results == ()


# ---------------------------------------------------------------- FAILED, InternalFailure: errors while judging


def test_hook_internal_error_answers_internal_failure_without_the_exception_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an evaluation that raises with the request's secret in its message
    def broken(self: PolicySet, resources: Any) -> Any:
        raise ValueError(f"cannot read {PLANTED}")

    hook = hook_over(SAMPLE_EVENT_POLICIES)
    monkeypatch.setattr(PolicySet, "evaluate", broken)

    # WHEN the hook answers
    outcome = hook.answer(request(TASK_DEFINITION_REQUEST))

    # THEN it is InternalFailure naming the exception's type and place, never its text
    message = outcome.response["message"]
    assert (outcome.response["hookStatus"], outcome.response["errorCode"]) == ("FAILED", "InternalFailure")
    assert message.startswith("ecsguard: unexpected ValueError at test_hook.py:")
    assert message.endswith("its message is withheld because it may quote the request")
    assert PLANTED not in json.dumps(outcome.response)
    assert outcome.problem == "error"


def test_hook_lookup_past_the_deadline_answers_internal_failure_in_time() -> None:
    # GIVEN a task definition lookup that does not answer in time (a fake: what is tested is the hook's clock)
    class Stalled:
        def task_definition(self, reference: str) -> dict[str, Any] | Unresolved:
            time.sleep(2)
            return Unresolved("too late")

        def service(self, cluster: str, service: str) -> dict[str, Any] | Unresolved:
            raise AssertionError("not asked")

        def cluster(self, cluster: str) -> dict[str, Any] | Unresolved:
            raise AssertionError("not asked")

        def task_set(self, cluster: str, service: str, task_set: str) -> dict[str, Any] | Unresolved:
            raise AssertionError("not asked")

    hook = hooks.Hook(narrowed(SAMPLE_EVENT_POLICIES), Stalled, deadline_seconds=0.2)
    started = time.monotonic()

    outcome = hook.answer(request(SERVICE_REQUEST))

    assert time.monotonic() - started < 1.5
    assert outcome.response["errorCode"] == "InternalFailure"
    assert outcome.response["message"] == (
        f"ecsguard: {SERVICE_ID} was not judged within 0.2 s (a lookup did not answer); deploy again, or see the "
        "hook function's logs"
    )


# ---------------------------------------------------------------- services: the task definition from ECS (moto)


def test_hook_service_is_judged_with_its_task_definition_from_ecs(aws: Aws, proxy: FaultProxy) -> None:
    # GIVEN reports-efs:3 (an EFS volume) in the emulated account, and a Fargate 1.3.0 service that runs it
    register_sample_task_definitions(aws.ecs)
    hook_request = request(SERVICE_REQUEST)
    efs = narrowed().by_id["ecs-efs-fargate-platform"]

    # WHEN the hook answers
    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    # THEN the EFS policy judged the service with the described task definition: one DescribeTaskDefinition
    assert outcome.response["errorCode"] == "NonCompliant"
    assert outcome.summary()["failed_policies"] == ["ecs-efs-fargate-platform"]
    assert outcome.response["message"].startswith(
        f"ecsguard: {SERVICE_ID}: 1 of the 1 policies that apply fail: [HIGH] ecs-efs-fargate-platform "
        f"({efs.title}) at platformVersion: "
    )
    assert proxy.counts() == {"ecs:DescribeTaskDefinition": 1}
    (call,) = proxy.calls()
    assert call.json()["taskDefinition"] == f"{TD_ARN}/reports-efs:3"


def test_hook_service_whose_task_definition_mounts_no_efs_answers_success(aws: Aws, proxy: FaultProxy) -> None:
    register_sample_task_definitions(aws.ecs)
    hook_request = request(SERVICE_REQUEST)
    properties(hook_request)["TaskDefinition"] = f"{TD_ARN}/payments-api:1"

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(hook_request)

    assert outcome.response["hookStatus"] == "SUCCESS"
    assert outcome.response["message"] == f"ecsguard: no loaded policy applies to {SERVICE_ID}"
    assert proxy.counts() == {"ecs:DescribeTaskDefinition": 1}


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("AccessDeniedException", "the hook function's role needs ecs:DescribeTaskDefinition"),
        ("ThrottlingException", "deploy again, or see the hook function's logs"),
    ],
)
def test_hook_service_describe_failure_answers_internal_failure_naming_the_call(
    code: str, advice: str, aws: Aws, proxy: FaultProxy
) -> None:
    register_sample_task_definitions(aws.ecs)
    proxy.fail("ecs:DescribeTaskDefinition", status=400, code=code, message=f"failed for {PLANTED}")

    outcome = hook_over(SAMPLE_EVENT_POLICIES).answer(request(SERVICE_REQUEST))

    assert outcome.response["errorCode"] == "InternalFailure"
    assert outcome.response["message"] == (
        f"ecsguard: ecs:DescribeTaskDefinition failed ({code}), so {SERVICE_ID}'s task definition could not be "
        f"read; {advice}"
    )
    assert PLANTED not in json.dumps(outcome.response)
    assert "reports-efs" not in outcome.response["message"]
    assert outcome.summary()["reason"] == outcome.response["message"]


# ---------------------------------------------------------------- no AWS call when none is needed


def test_hook_task_definition_request_makes_no_aws_call(aws: Aws, proxy: FaultProxy) -> None:
    outcome = hook_over().answer(request(TASK_DEFINITION_REQUEST))

    assert outcome.response["hookStatus"] == "FAILED"
    assert {r.policy_id for r in outcome.results} == {p.id for p in catalog().for_type(ResourceType.TASK_DEFINITION)}
    assert proxy.counts() == {}


def test_hook_service_makes_no_aws_call_when_no_loaded_policy_reads_its_task_definition(
    aws: Aws, proxy: FaultProxy
) -> None:
    # GIVEN only service policies that read the service's own settings
    selected = [
        p.id
        for p in catalog().for_type(ResourceType.SERVICE)
        if p.resource_type is ResourceType.SERVICE and "taskDefinition" not in p.reads and "cluster" not in p.reads
    ]
    assert selected, "the catalog should have a service policy that reads only the service"

    outcome = hook_over(selected).answer(request(SERVICE_REQUEST))

    assert {r.policy_id for r in outcome.results} == set(selected)
    assert not any(r.status is Status.ERROR for r in outcome.results)
    assert proxy.counts() == {}


# ---------------------------------------------------------------- CloudFormation's strings


@pytest.mark.parametrize(("privileged", "status"), [("true", Status.FAIL), ("false", Status.PASS)])
def test_hook_boolean_sent_as_text_is_judged_as_the_boolean(privileged: str, status: Status) -> None:
    # CloudFormation hands a hook its primitives as text: "true" must be judged as true, "false" as false.
    hook_request = request(TASK_DEFINITION_REQUEST)
    properties(hook_request)["ContainerDefinitions"][0]["Privileged"] = privileged

    outcome = hook_over(["ecs-containers-nonprivileged"]).answer(hook_request)

    assert [(r.policy_id, r.status) for r in outcome.results] == [("ecs-containers-nonprivileged", status)]


def test_hook_number_sent_as_text_is_judged_as_the_number() -> None:
    # CloudFormation sends a container's Memory as the text "512"; the model reads it as the number.
    outcome = hook_over(["ecs-containers-memory-limit"]).answer(request(TASK_DEFINITION_REQUEST))

    assert [(r.policy_id, r.status) for r in outcome.results] == [("ecs-containers-memory-limit", Status.PASS)]


# ---------------------------------------------------------------- the Lambda handler


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Callable[[], tuple[str, str]]:
    """What the invocation wrote to descriptors 1 (metrics) and 2 (logs), as CloudWatch would see it (Powertools
    kept the sys.stderr of import time, pytest's capture file: it is pointed at descriptor 2, as in
    test_lambda_redaction.py)."""
    monkeypatch.setattr(logger.registered_handler, "stream", sys.__stderr__)

    def read() -> tuple[str, str]:
        captured = capfd.readouterr()
        return captured.out, captured.err

    return read


@pytest.fixture
def handler_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings = Settings.from_environment(
        {
            "ECSGUARD_POLICY_DIR": str(narrowed_policy_dir(SAMPLE_EVENT_POLICIES)),
            "ECSGUARD_PACKS": "all",
            "ECSGUARD_AWS_MAX_ATTEMPTS": "2",
        }
    )
    monkeypatch.setattr(hook_handler, "SETTINGS", settings)
    hook_handler.hook.cache_clear()
    yield
    hook_handler.hook.cache_clear()


@pytest.mark.parametrize(
    ("name", "resource", "failed"),
    [
        (TASK_DEFINITION_REQUEST, TASK_DEFINITION_ID, ["ecs-secrets-managed"]),
        (SERVICE_REQUEST, SERVICE_ID, ["ecs-efs-fargate-platform"]),
    ],
)
def test_handler_answers_each_sample_request_and_logs_no_property_value(
    name: str,
    resource: str,
    failed: list[str],
    aws: Aws,
    handler_settings: None,
    output: Callable[[], tuple[str, str]],
) -> None:
    register_sample_task_definitions(aws.ecs)
    hook_request = request(name)

    answer = hook_handler.handler(hook_request, None)

    out, err = output()
    assert set(answer) == {"hookStatus", "errorCode", "message", "clientRequestToken"}
    assert (answer["hookStatus"], answer["errorCode"]) == ("FAILED", "NonCompliant")
    assert answer["clientRequestToken"] == hook_request["clientRequestToken"]
    assert named_policies(answer["message"]) == failed
    (logged,) = [json.loads(line) for line in err.splitlines() if '"hook answered"' in line]
    assert (logged["resource"], logged["failed_policies"], logged["level"]) == (resource, failed, "INFO")
    assert logged["correlation_id"] == hook_request["clientRequestToken"]
    for value in (PLANTED, "https://sqs.us-east-1.amazonaws.com/123456789012/billing", "subnet-0a1b2c3d4e5f67890"):
        assert value not in out + err


def test_handler_policy_set_that_does_not_load_answers_internal_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: Callable[[], tuple[str, str]]
) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nnot_a_key: 1\n", encoding="utf-8")
    monkeypatch.setattr(hook_handler, "SETTINGS", Settings.from_environment({"ECSGUARD_POLICY_DIR": str(tmp_path)}))
    hook_handler.hook.cache_clear()
    hook_request = request(TASK_DEFINITION_REQUEST)

    answer = hook_handler.handler(hook_request, None)

    hook_handler.hook.cache_clear()
    assert answer == {
        "hookStatus": "FAILED",
        "errorCode": "InternalFailure",
        "message": "ecsguard: the policy set could not be loaded; see the hook's logs",
        "clientRequestToken": hook_request["clientRequestToken"],
    }
    out, err = output()
    assert PLANTED not in out + err
    assert '"policy set not loaded"' in err


def test_handler_unexpected_error_answers_internal_failure(
    handler_settings: None, monkeypatch: pytest.MonkeyPatch, output: Callable[[], tuple[str, str]]
) -> None:
    def broken(self: hooks.Hook, request: object) -> hooks.HookOutcome:
        raise RuntimeError(PLANTED)

    monkeypatch.setattr(hooks.Hook, "answer", broken)

    answer = hook_handler.handler(request(TASK_DEFINITION_REQUEST), None)

    assert (answer["hookStatus"], answer["errorCode"]) == ("FAILED", "InternalFailure")
    assert answer["message"].startswith("ecsguard: unexpected RuntimeError at test_hook.py:")
    out, err = output()
    assert PLANTED not in json.dumps(answer) + out + err
    (logged,) = [json.loads(line) for line in err.splitlines() if '"hook answered"' in line]
    assert (logged["level"], logged["problem"]) == ("ERROR", "error")
