"""Values known only when a template is deployed (``!Ref``, ``!GetAtt``, ``!Sub`` with references, Terraform's
``after_unknown``), and how a policy is judged over them.

An ``Unknown`` stands in the resource where the value would be. Reading a field of it gives it back, a list that is
unknown is one unknown item, and a comparison with it has no answer, unless the value's possible texts are known
(``candidates``: a ``!Sub`` of pseudo parameters, a ``!GetAtt`` of a repository's URI, one per ``WORLDS`` entry) and
the comparison gives every one of them the same answer.

A policy is judged twice over a resource with unknowns (``core.codegen`` writes each variant): once with every
unanswerable comparison answered as the policy would like it (so a FAIL is one that no deployed value can avoid),
and once answered against it (so a PASS is one that no deployed value can break). What neither settles is unknown,
and the policy's ``when_unknown`` says whether that is NOT_APPLICABLE or ERROR, naming the properties.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# Where a template may be deployed, as its pseudo parameters would say: candidate texts are computed once per world,
# and a comparison is answered only when every world answers alike.
WORLDS: Final[tuple[Mapping[str, str], ...]] = (
    {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "111111111111",
        "AWS::URLSuffix": "amazonaws.com",
    },
    {
        "AWS::Partition": "aws-us-gov",
        "AWS::Region": "us-gov-west-1",
        "AWS::AccountId": "222222222222",
        "AWS::URLSuffix": "amazonaws.com",
    },
)

# A description names functions, logical ids, parameter and attribute names: CloudFormation allows only these
# characters in them, so a description is never a value's text.
_NAME = re.compile(r"[A-Za-z0-9:._/-]{1,255}")


def named(text: object) -> str:
    """``text`` when it has the shape of a logical id, parameter or attribute name; otherwise a stand-in."""
    return text if isinstance(text, str) and _NAME.fullmatch(text) else "(a name not shown)"


class Unknown:
    """A value known only at deploy time. ``description`` says what it is (``!Ref DbPassword``), in names only;
    ``candidates`` are its texts, one per world, when they are known."""

    __slots__ = ("_field", "candidates", "description", "per_world")

    def __init__(self, description: str, candidates: Sequence[Any] = (), per_world: bool = False) -> None:
        self.description = description
        self.candidates = tuple(candidates)
        # candidates[i] is the text in WORLDS[i] (a pseudo parameter's, or a text built from them)
        self.per_world = per_world and len(self.candidates) == len(WORLDS)
        self._field: Unknown | None = None

    def get(self, key: object, default: object = None) -> Unknown:
        """A field of an unknown object is that object, unknown: reasons name the object once, where it stands."""
        if not self.candidates:
            return self
        if self._field is None:  # a field of a text has no candidates
            self._field = Unknown(self.description)
        return self._field

    def __repr__(self) -> str:
        return f"Unknown({self.description!r})"


# A cluster that sets no containerInsights takes the account's default (PutAccountSettingDefault), known at deploy:
# what a template's or a plan's cluster that names no settings has.
ACCOUNT_SETTINGS = Unknown("the account's default settings, which a cluster that sets none takes")


class _NoAnswer:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_ANSWER"


# A comparison with an unknown value whose candidates do not all answer alike (or that has none).
NO_ANSWER: Final = _NoAnswer()


def answer(value: Unknown, compare: Callable[[Any], object]) -> object:
    """``compare``'s answer for every candidate of ``value`` when they agree (truthiness, and the same text of what
    matched for an operator that names it), else ``NO_ANSWER`` (which ``compare`` may also give for a candidate)."""
    if not value.candidates:
        return NO_ANSWER
    answers = [compare(candidate) for candidate in value.candidates]
    if any(found is NO_ANSWER for found in answers):
        return NO_ANSWER
    first = answers[0]
    if all(bool(other) is bool(first) for other in answers[1:]):
        return first if all(other == first for other in answers[1:]) or not first else bool(first)
    return NO_ANSWER


def contains_unknown(value: object) -> bool:
    """Whether an unknown value is anywhere in ``value`` (dicts and lists walked)."""
    if type(value) is Unknown:
        return True
    if isinstance(value, dict):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unknown(item) for item in value)
    return False


@dataclass(frozen=True)
class UnknownRead:
    """One comparison that had no answer: where (a concrete path), what was unknown, and which unknown value it was
    (``id``): the fields of an unknown object are the object."""

    path: str
    description: str
    origin: int = 0


def unknown_reason(reads: Sequence[UnknownRead], limit: int = 3) -> str:
    """Why a policy could not be judged before deploy, naming each unknown value it needed once, at its own path
    (the shortest it was read at)."""
    shortest: dict[int | tuple[str, str], tuple[str, str]] = {}
    for read in reads:
        key: int | tuple[str, str] = read.origin or (read.path, read.description)
        known = shortest.get(key)
        if known is None or len(read.path) < len(known[0]):
            shortest[key] = (read.path, read.description)
    seen = dict.fromkeys(shortest.values())
    parts = [f"{path or '(resource)'} is {description}" for path, description in list(seen)[:limit]]
    more = f" and {len(seen) - limit} more" if len(seen) > limit else ""
    return f"known only at deploy: {'; '.join(parts)}{more}" if parts else "known only at deploy"
