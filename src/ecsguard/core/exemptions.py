"""Accepted risks: exemptions with an owner, a reason and an expiry, and how they turn a FAIL into EXEMPT.

An exemption names policies and selects resources by what their ARN says (account, Region, the ARN itself, a
task definition's family, a service's or task set's cluster and service); every selector it gives must match.
Nothing in a resource's own data (a tag, a label) can select it, so a resource's owner cannot exempt it. An
exemption covers FAIL results only: an ERROR stays an ERROR, and a PASS stays a PASS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import TYPE_CHECKING

from ecsguard.core.results import Exempted, Result, Status
from ecsguard.core.times import parse_time

if TYPE_CHECKING:  # the file's models (pydantic) are built only where a file is read, not at every cold start
    from ecsguard.core.exemption_model import ExemptionDocument


def glob_pattern(glob: str) -> re.Pattern[str]:
    """The whole-text pattern of a selector glob: * is any run of characters, ? is one; nothing else is special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z", re.S)


@dataclass(frozen=True)
class ResourceFacts:
    """What an ARN says about its resource, which is all an exemption may select it by."""

    account: str
    region: str
    arn: str
    family: str | None = None
    cluster: str | None = None
    service: str | None = None


def resource_facts(arn: str) -> ResourceFacts | None:
    """The facts of an ECS ARN (task definition, service, task set, cluster); None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs" or "/" not in parts[5]:
        return None
    account, region = parts[4], parts[3]
    kind, _, rest = parts[5].partition("/")
    names = rest.split("/")
    if kind == "task-definition":
        return ResourceFacts(account, region, arn, family=rest.rsplit(":", 1)[0])
    if kind == "cluster":
        return ResourceFacts(account, region, arn, cluster=rest)
    if kind == "service":  # service/<cluster>/<name>, or the old service/<name> that names no cluster
        if len(names) == 1:
            return ResourceFacts(account, region, arn, service=names[0])
        return ResourceFacts(account, region, arn, cluster=names[0], service=names[1])
    if kind == "task-set" and len(names) >= 3:
        return ResourceFacts(account, region, arn, cluster=names[0], service=names[1])
    return ResourceFacts(account, region, arn)


EXPIRING_DAYS = 30  # an exemption in effect that ends within this many days is "expiring"


@dataclass(frozen=True)
class Exemption:
    document: ExemptionDocument
    selectors: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]  # (fact name, patterns of its globs)

    @property
    def id(self) -> str:
        return self.document.id

    def in_effect(self, today: date) -> bool:
        """Whether it applies today: through the whole day it expires on."""
        return today <= self.document.expires

    def state(self, today: date, expiring_days: int = EXPIRING_DAYS) -> str:
        """active, expiring (in effect, and ending within ``expiring_days``) or expired."""
        left = (self.document.expires - today).days
        return "expired" if left < 0 else ("expiring" if left <= expiring_days else "active")

    def selects(self, facts: ResourceFacts) -> bool:
        for fact, patterns in self.selectors:
            value = getattr(facts, fact)
            if value is None or not any(pattern.match(value) for pattern in patterns):
                return False
        return True

    def exempted(self) -> Exempted:
        document = self.document
        return Exempted(document.id, document.owner, document.reason, document.expires.isoformat(), document.ticket)


@dataclass(frozen=True)
class ExemptionSet:
    """The exemptions of one file, in its order; the first that covers a failure is the one it carries."""

    exemptions: tuple[Exemption, ...] = ()

    def covering(self, policy_id: str, facts: ResourceFacts, today: date) -> Exemption | None:
        for exemption in self.exemptions:
            if policy_id in exemption.document.policies and exemption.in_effect(today) and exemption.selects(facts):
                return exemption
        return None

    def apply(self, results: Iterable[Result], today: date) -> list[Result]:
        """The results with each FAIL that an exemption in effect covers made EXEMPT, carrying that exemption."""
        return [self._applied(result, today) for result in results]

    def _applied(self, result: Result, today: date) -> Result:
        if result.status is not Status.FAIL or not self.exemptions:
            return result
        facts = resource_facts(result.resource.id)
        exemption = self.covering(result.policy_id, facts, today) if facts is not None else None
        if exemption is None:
            return result
        return result._replace(status=Status.EXEMPT, exemption=exemption.exempted())

    def unused(self, results: Iterable[Result], today: date) -> list[str]:
        """The ids of the exemptions in effect that select no resource any of ``results`` judged with one of
        their policies: a file that no longer matches the estate, reported so that it does not rot."""
        pending = {exemption.id: exemption for exemption in self.exemptions if exemption.in_effect(today)}
        for result in results:
            if not pending:
                break
            facts = resource_facts(result.resource.id)
            if facts is None:
                continue
            for identifier, exemption in list(pending.items()):
                if result.policy_id in exemption.document.policies and exemption.selects(facts):
                    del pending[identifier]
        return list(pending)

    def states(self, today: date) -> dict[str, int]:
        """How many exemptions are active, expiring and expired today."""
        counts = dict.fromkeys(("active", "expiring", "expired"), 0)
        for exemption in self.exemptions:
            counts[exemption.state(today)] += 1
        return counts

    def ids(self) -> Sequence[str]:
        return [exemption.id for exemption in self.exemptions]


NO_EXEMPTIONS = ExemptionSet()


def exemption_document(exempted: Exempted) -> dict[str, str]:
    """The exemption an EXEMPT result carries, for output: the security team's own words, from its exemptions
    file (never the scanned input's)."""
    document = {"id": exempted.id, "owner": exempted.owner, "reason": exempted.reason, "expires": exempted.expires}
    if exempted.ticket is not None:
        document["ticket"] = exempted.ticket
    return document


def today_of(instant: str) -> date:
    """The UTC day of an ASFF instant (the clock the event path and the sweep run on)."""
    parsed = parse_time(instant)
    if parsed is None:
        raise ValueError("the clock gave no readable instant")
    return parsed.astimezone(UTC).date()
