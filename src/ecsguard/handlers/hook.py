"""Lambda entry point of the CloudFormation hook: one proposed ECS task definition or service per invocation.

Thin on purpose: set the log context, ask the Hook once, record metrics, return its answer. CloudFormation invokes
the function synchronously and reads the answer, so the function never raises: whatever goes wrong is answered
FAILED with InternalFailure (``ecsguard.hook``). Neither the request nor a property value is logged: a template's
properties can hold plaintext secrets; only ids, verdicts and counts are.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ecsguard import hook as hooks
from ecsguard.core.results import Status
from ecsguard.errors import PolicyLoadError
from ecsguard.observability import NAMESPACE, SERVICE, logger, metrics, traced
from ecsguard.wiring import build_hook, environment_settings

# Validated once per container, at cold start, as the scanner's are.
SETTINGS = environment_settings()


@cache
def hook() -> hooks.Hook:
    """Built on first use (the policy set loaded) and kept for the container's life."""
    return build_hook(SETTINGS)


def _record(outcome: hooks.HookOutcome) -> None:
    metrics.add_metric(name="HookRequests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="HookEvaluations", unit=MetricUnit.Count, value=len(outcome.results))
    code = outcome.response.get("errorCode")
    if code == hooks.NON_COMPLIANT:
        metrics.add_metric(name="HookNonCompliant", unit=MetricUnit.Count, value=1)
    elif code == hooks.INTERNAL_FAILURE:
        metrics.add_metric(name="HookInternalFailures", unit=MetricUnit.Count, value=1)
    for result in outcome.results:
        if result.status is Status.FAIL:
            with single_metric(name="HookFailures", unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
                metric.add_dimension(name="service", value=SERVICE)
                metric.add_dimension(name="policy_id", value=result.policy_id)
                metric.add_dimension(name="severity", value=result.severity.value)


@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.set_correlation_id(hooks.client_request_token(event))
    try:
        outcome = hook().answer(event)
    except PolicyLoadError as error:
        # The policy set, not the request: its problems name files and lines of the policy folder.
        logger.error("policy set not loaded", extra={"problem": str(error)})
        outcome = hooks.internal_failure(event, "the policy set could not be loaded; see the hook's logs", "policies")
    except Exception as error:  # noqa: BLE001 - answered, never raised: CloudFormation needs an answer
        outcome = hooks.internal_failure(event, hooks.unexpected(error), "error")
    _record(outcome)
    log = logger.info if outcome.problem is None else logger.error
    log("hook answered", extra=outcome.summary())
    return outcome.response
