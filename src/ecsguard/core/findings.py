"""Map evaluation results to AWS Security Finding Format (ASFF) findings and to SNS notifications.

Pure: builds documents, sends nothing. A finding's Id depends only on the policy id and the resource
ARN, so every later evaluation of the same pair updates the same finding. Nothing here copies the
resource: evidence names where a secret is, never its value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecsguard.core.compiler import CompiledPolicy
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Result, Status

SCHEMA_VERSION = "2018-10-08"
FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices"
ASFF_RESOURCE_TYPES = {
    ResourceType.TASK_DEFINITION: "AwsEcsTaskDefinition",
    ResourceType.SERVICE: "AwsEcsService",
    ResourceType.CLUSTER: "AwsEcsCluster",
    # ASFF has no task set type: AWS's ASFF reference says to use Other for a resource that matches none.
    ResourceType.TASK_SET: "Other",
    ResourceType.TASK: "AwsEcsTask",
}
# An exempted failure is still a failure: Security Hub keeps it FAILED (its workflow says it is accepted).
COMPLIANCE = {Status.PASS: "PASSED", Status.FAIL: "FAILED", Status.EXEMPT: "FAILED", Status.ERROR: "NOT_AVAILABLE"}
MAX_PRODUCT_FIELDS = 50
SNS_MESSAGE_LIMIT = 256 * 1024
# Room left under SNS's limit for the subject and message attributes.
NOTIFICATION_BUDGET = SNS_MESSAGE_LIMIT - 8 * 1024


# Who ecsguard signs the workflow notes it writes as (an exemption's suppression), so that a suppression it did
# not write is known to be a person's.
NOTE_AUTHOR = "ecsguard"


@dataclass(frozen=True)
class WorkflowUpdate:
    """A finding's workflow to set with BatchUpdateFindings (which BatchImportFindings cannot set): SUPPRESSED under
    an exemption's note, or NEW when its exemption no longer applies. ``note`` is signed by ecsguard."""

    finding_id: str
    product_arn: str
    status: str  # SUPPRESSED or NEW
    note: str


class NotAnArn(ValueError):
    """A resource id that is not an ECS ARN cannot be a Security Hub resource."""


@dataclass(frozen=True)
class ArnParts:
    partition: str
    region: str
    account: str


def parse_arn(arn: str) -> ArnParts:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[3] or not parts[4]:
        raise NotAnArn(f"'{arn}' is not an ARN with a region and an account")
    return ArnParts(partition=parts[1], region=parts[3], account=parts[4])


def finding_id(policy_id: str, resource_arn: str) -> str:
    return f"ecsguard/{policy_id}/{resource_arn}"


# The CloudFormation type of each resource ASFF has no type for, by the resource part of its ARN.
_OTHER_TYPES = {"task-set": ResourceType.TASK_SET.value}


def _asff_resource(asff_type: str, resource_arn: str, arn: ArnParts) -> dict[str, Any]:
    resource: dict[str, Any] = {"Type": asff_type, "Id": resource_arn, "Partition": arn.partition, "Region": arn.region}
    kind = resource_arn.split(":", 5)[-1].split("/", 1)[0]
    if asff_type == "Other" and kind in _OTHER_TYPES:
        # Other says only that ASFF lacks the type; the details name it (AWS::ECS::TaskSet) for filters.
        resource["Details"] = {"Other": {"ResourceType": _OTHER_TYPES[kind]}}
    return resource


def parse_finding_id(identifier: str) -> tuple[str, str] | None:
    """The (policy id, resource ARN) of an ecsguard finding id, the inverse of ``finding_id``; None for others."""
    prefix, _, rest = identifier.partition("/")
    policy_id, _, resource_arn = rest.partition("/")
    if prefix != "ecsguard" or not policy_id or not resource_arn:
        return None
    return policy_id, resource_arn


@dataclass(frozen=True)
class FindingContext:
    """Where findings are imported (the scanner's account and Region), when, and what time they reflect.

    ``observed_at`` is the time of the observation the findings reflect: the CloudTrail record's eventTime for
    an event, the start of a sweep; ``now`` (the import) when there is none.
    """

    product_account: str
    product_region: str
    partition: str
    now: str  # ISO 8601, UTC
    event_id: str | None = None
    observed_at: str | None = None

    @property
    def observed(self) -> str:
        return self.observed_at or self.now

    @property
    def product_arn(self) -> str:
        return (
            f"arn:{self.partition}:securityhub:{self.product_region}:{self.product_account}:"
            f"product/{self.product_account}/default"
        )


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_RELATED_REQUIREMENTS = 32  # ASFF's limit for Compliance.RelatedRequirements


def _requirements(policy: CompiledPolicy) -> list[str]:
    """The framework requirements AWS lists for the controls the policy judges (NIST 800-53, PCI DSS, ...)."""
    return list(policy.document.references.requirements[:MAX_RELATED_REQUIREMENTS])


def _controls(policy: CompiledPolicy) -> dict[str, str]:
    """The controls the policy judges, for filters and dashboards. Not Compliance.SecurityControlId: that field
    belongs to Security Hub's own control findings, and AWS documents no link from an imported finding to them."""
    references = policy.document.references
    fields = {
        "ecsguard/SecurityHubControls": ",".join(references.security_hub_controls),
        "ecsguard/ControlTowerControls": ",".join(references.control_tower_controls),
        "ecsguard/RelatedControls": ",".join(references.related_controls),
        "ecsguard/Packs": ",".join(policy.document.packs),
    }
    return {name: value for name, value in fields.items() if value}


def _description(policy: CompiledPolicy, result: Result | None) -> str:
    if result is None:
        return _clip(f"The resource no longer exists. {policy.description}", 1024)
    if result.status is Status.ERROR:
        return _clip(f"ecsguard could not evaluate this policy: {result.reason}. {policy.description}", 1024)
    if result.status is Status.FAIL:
        evidence = "; ".join(f"{e.path or '(resource)'}: {e.message}" for e in result.evidence)
        return _clip(f"{evidence}. {policy.description}", 1024)
    return _clip(policy.description, 1024)


def asff_finding(
    policy: CompiledPolicy,
    resource_type: ResourceType,
    resource_arn: str,
    result: Result | None,
    context: FindingContext,
) -> dict[str, Any]:
    """One ASFF finding for (policy, resource); ``result`` None archives it (the resource is gone).

    PASS and FAIL are ACTIVE with Compliance PASSED or FAILED; ERROR is ACTIVE with NOT_AVAILABLE so
    it is never mistaken for compliant; NOT_APPLICABLE is ARCHIVED, as Security Hub does for controls.
    """
    status = result.status if result is not None else None
    record_state = "ARCHIVED" if status in (None, Status.NOT_APPLICABLE) else "ACTIVE"
    compliance: dict[str, Any] = {"Status": COMPLIANCE.get(status, "NOT_AVAILABLE") if status else "NOT_AVAILABLE"}
    requirements = _requirements(policy)
    if requirements:
        compliance["RelatedRequirements"] = requirements
    product_fields = {
        "ecsguard/PolicyId": policy.id,
        "ecsguard/Status": status.value if status else "RESOURCE_DELETED",
        **_controls(policy),
    }
    if context.event_id:
        product_fields["ecsguard/EventId"] = context.event_id
    if result is not None:
        if result.reason:
            name = "NotApplicableReason" if result.status is Status.NOT_APPLICABLE else "ErrorReason"
            product_fields[f"ecsguard/{name}"] = _clip(result.reason, 2048)
        room = MAX_PRODUCT_FIELDS - len(product_fields)
        for index, evidence in enumerate(result.evidence[:room]):
            product_fields[f"ecsguard/Evidence/{index}"] = _clip(f"{evidence.path}: {evidence.message}", 2048)
    document = policy.document
    return {
        **_envelope(policy.id, resource_arn, ASFF_RESOURCE_TYPES[resource_type], policy.severity, context),
        "Title": _clip(policy.title, 256),
        "Description": _description(policy, result),
        "Remediation": {
            "Recommendation": {"Text": _clip(document.remediation.text, 512), "Url": document.remediation.url}
        },
        "ProductFields": product_fields,
        "Compliance": compliance,
        "RecordState": record_state,
    }


def _envelope(
    generator: str, resource_arn: str, asff_type: str, severity: Severity, context: FindingContext
) -> dict[str, Any]:
    """What every ecsguard finding holds: who made it, about which resource, when and how severe."""
    arn = parse_arn(resource_arn)
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(generator, resource_arn),
        "ProductArn": context.product_arn,
        "ProductName": "ecsguard",
        "CompanyName": "ecsguard",
        "GeneratorId": f"ecsguard/{generator}",
        "AwsAccountId": arn.account,
        "Region": arn.region,
        "Types": [FINDING_TYPE],
        # A finding first observed now; publishing carries CreatedAt and FirstObservedAt over from the finding
        # Security Hub already holds, so they stay at the first observation while LastObservedAt moves.
        "CreatedAt": context.observed,
        "FirstObservedAt": context.observed,
        "LastObservedAt": context.observed,
        "UpdatedAt": context.now,
        "Severity": {"Label": severity.value},
        # Security Hub applies later changes of severity and types from providers only through these.
        "FindingProviderFields": {
            "Severity": {"Label": severity.value, "Original": severity.value},
            "Types": [FINDING_TYPE],
        },
        "Resources": [_asff_resource(asff_type, resource_arn, arn)],
    }


# --- notifications -------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str
    attributes: Mapping[str, Mapping[str, str]]  # SNS MessageAttributes
    # The findings whose change the message announces: they are imported only once it was sent, so a retry
    # of an event whose message failed still finds them unchanged and sends it again.
    finding_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotificationContext:
    account: str
    region: str
    event_id: str | None
    api_call: str | None
    event_time: str | None
    actor: str | None


def notification_for(
    results: Sequence[Result],
    policies: Mapping[str, CompiledPolicy],
    context: NotificationContext,
    minimum: Severity,
) -> Notification | None:
    """One message for one resource's results, when any FAIL or ERROR is at or above ``minimum``."""
    alerting = [r for r in results if r.status in (Status.FAIL, Status.ERROR) and r.severity.rank >= minimum.rank]
    if not alerting:
        return None
    resource = alerting[0].resource
    highest = max((r.severity for r in alerting), key=lambda severity: severity.rank)
    items = []
    for result in sorted(alerting, key=lambda r: (-r.severity.rank, r.policy_id)):
        policy = policies[result.policy_id]
        item: dict[str, Any] = {
            "policy_id": result.policy_id,
            "status": result.status.value,
            "severity": result.severity.value,
            "title": result.title,
            "evidence": [{"path": e.path, "message": e.message} for e in result.evidence],
            "remediation": {"text": policy.document.remediation.text, "url": policy.document.remediation.url},
        }
        if result.reason:
            item["reason"] = result.reason
        if resource.id.startswith("arn:"):
            item["finding_id"] = finding_id(result.policy_id, resource.id)
        items.append(item)
    document: dict[str, Any] = {
        "schema_version": "1.0",
        "source": "ecsguard",
        "account": context.account,
        "region": context.region,
        "event": {
            "id": context.event_id,
            "api_call": context.api_call,
            "time": context.event_time,
            "actor": context.actor,
        },
        "resource": {"type": resource.type.value, "id": resource.id},
        "severity": highest.value,
        "failures": items,
    }
    policy_ids = sorted({item["policy_id"] for item in items})
    finding_ids = tuple(item["finding_id"] for item in items if "finding_id" in item)
    name = resource.id.rsplit("/", 1)[-1]
    subject = _clip(f"ecsguard {highest.value}: {len(items)} policy violation(s) on {name}", 100)
    return Notification(
        subject=subject.encode("ascii", "replace").decode("ascii"),
        message=_fit(document),
        attributes={
            "severity": {"DataType": "String", "StringValue": highest.value},
            "policy_ids": {"DataType": "String.Array", "StringValue": json.dumps(policy_ids)},
            "resource_type": {"DataType": "String", "StringValue": resource.type.value},
            "account": {"DataType": "String", "StringValue": context.account},
        },
        finding_ids=finding_ids,
    )


def _fit(document: dict[str, Any]) -> str:
    """Serialise, dropping evidence beyond a per-policy cap until the message fits SNS's limit."""
    text = json.dumps(document, indent=1)
    if len(text.encode()) <= NOTIFICATION_BUDGET:
        return text
    full = [list(item["evidence"]) for item in document["failures"]]
    keep = max(len(evidence) for evidence in full)
    while keep > 0:
        keep //= 2
        for item, evidence in zip(document["failures"], full, strict=True):
            item["evidence"] = evidence[:keep]
            if len(evidence) > keep:
                item["evidence_omitted"] = len(evidence) - keep
        text = json.dumps(document, separators=(",", ":"))
        if len(text.encode()) <= NOTIFICATION_BUDGET:
            return text
    while len(text.encode()) > NOTIFICATION_BUDGET and len(document["failures"]) > 1:
        document["failures"].pop()
        document["failures_omitted"] = document.get("failures_omitted", 0) + 1
        text = json.dumps(document, separators=(",", ":"))
    return text


# --- blind spots ---------------------------------------------------------------------------

# The policy part of a blind spot's finding id: a dot, which no policy id may hold, so it never meets a policy's.
COVERAGE = "sweep.coverage"
COVERAGE_TITLE = "ecsguard cannot see the services of this ECS cluster"


def coverage_finding(cluster_arn: str, problem: str, context: FindingContext) -> dict[str, Any]:
    """A NOT_AVAILABLE finding on a cluster whose services a sweep could not list: the dashboard shows where
    ecsguard is blind instead of looking clean there. ``problem`` names the failed call."""
    description = (
        f"A sweep could not list this cluster's services ({problem}), so none of them was evaluated. "
        "Grant the scanner's role ecs:ListServices and ecs:DescribeServices on the cluster; the finding is "
        "archived by the first sweep that can list it."
    )
    return {
        **_envelope(COVERAGE, cluster_arn, ASFF_RESOURCE_TYPES[ResourceType.CLUSTER], Severity.MEDIUM, context),
        "Title": COVERAGE_TITLE,
        "Description": _clip(description, 1024),
        "ProductFields": {"ecsguard/PolicyId": COVERAGE, "ecsguard/Status": "NOT_LISTED"},
        "Compliance": {"Status": "NOT_AVAILABLE"},
        "RecordState": "ACTIVE",
    }


ACCOUNT_COVERAGE = "sweep.account"
ACCOUNT_COVERAGE_TITLE = "ecsguard could not sweep this account in a Region"


def account_resource_id(account: str, region: str) -> str:
    """The id of the resource an account-coverage finding is about: the account, in the Region it was not swept in
    (Security Hub's own account findings use ``AWS::::Account:<id>``; the Region keeps one finding per Region)."""
    return f"AWS::::Account:{account}/{region}"


def account_coverage_finding(account: str, region: str, problem: str, context: FindingContext) -> dict[str, Any]:
    """A NOT_AVAILABLE finding, in the central account, on a member account whose sweep in ``region`` failed after
    its retries: the dashboards show that ecsguard did not see it. ``problem`` names the kind of failure."""
    description = (
        f"The organization sweep of account {account} in {region} failed after its retries ({problem}), so its ECS "
        "resources were not evaluated and their findings may be stale. Check the member role of that account "
        "(templates/member-account.yaml) and the sweep function's logs; the first sweep of the account that "
        "succeeds archives this finding."
    )
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(ACCOUNT_COVERAGE, account_resource_id(account, region)),
        "ProductArn": context.product_arn,
        "ProductName": "ecsguard",
        "CompanyName": "ecsguard",
        "GeneratorId": f"ecsguard/{ACCOUNT_COVERAGE}",
        "AwsAccountId": context.product_account,
        "Types": [FINDING_TYPE],
        "CreatedAt": context.observed,
        "FirstObservedAt": context.observed,
        "LastObservedAt": context.observed,
        "UpdatedAt": context.now,
        "Severity": {"Label": Severity.MEDIUM.value},
        "FindingProviderFields": {
            "Severity": {"Label": Severity.MEDIUM.value, "Original": Severity.MEDIUM.value},
            "Types": [FINDING_TYPE],
        },
        "Title": ACCOUNT_COVERAGE_TITLE,
        "Description": _clip(description, 1024),
        "Resources": [
            {
                "Type": "AwsAccount",
                "Id": f"AWS::::Account:{account}",
                "Partition": context.partition,
                "Region": region,
            }
        ],
        "ProductFields": {
            "ecsguard/PolicyId": ACCOUNT_COVERAGE,
            "ecsguard/Status": "NOT_SWEPT",
            "ecsguard/SweptAccount": account,
            "ecsguard/SweptRegion": region,
        },
        "Compliance": {"Status": "NOT_AVAILABLE"},
        "RecordState": "ACTIVE",
    }
