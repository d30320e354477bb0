"""The policy document: metadata and a condition tree, validated by pydantic.

Structure is checked here (unknown keys, wrong types, unknown condition shapes);
meaning (field paths against the resource model, operators, parameters, message
placeholders) is checked when the condition tree is compiled (``compiler``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.packs import POLICY_ID

_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ParamRef(BaseModel):
    """``{param: name}``: the value of one of the policy's parameters."""

    model_config = _STRICT
    param: str


class Compare(BaseModel):
    """A leaf: compare a field (or a parameter) with a value using an operator."""

    model_config = _STRICT
    field: str | None = None
    param: str | None = None
    op: str
    value: Any = None
    default: Any = None
    capture: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> Compare:
        if (self.field is None) == (self.param is None):
            raise ValueError("a comparison needs exactly one of 'field' or 'param'")
        if self.param is not None and (self.default is not None or self.capture is not None):
            raise ValueError("'default' and 'capture' apply to a 'field', not to a 'param'")
        return self


class AllOf(BaseModel):
    model_config = _STRICT
    all: list[Condition] = Field(min_length=1)
    message: str | None = None


class AnyOf(BaseModel):
    model_config = _STRICT
    any: list[Condition] = Field(min_length=1)
    message: str | None = None


class Not(BaseModel):
    model_config = _STRICT
    not_: Condition = Field(alias="not")
    message: str | None = None


class _Quantifier(BaseModel):
    model_config = _STRICT
    as_: str = Field(default="item", alias="as")
    where: Condition | None = None
    require: Condition
    message: str | None = None

    @field_validator("as_")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(f"'{value}' is not a valid variable name")
        return value


class ForEach(_Quantifier):
    """Every item of a list satisfies ``require`` (items failing ``where`` are skipped).

    An empty or missing list satisfies it vacuously, as in logic and in Config rules.
    """

    for_each: str


class ForAny(_Quantifier):
    """At least one item of a list (among those passing ``where``) satisfies ``require``."""

    for_any: str


# Union tags appear in pydantic error locations; the angle brackets keep them apart from real keys.
CONDITION_TAGS = {"all": "<all>", "any": "<any>", "not": "<not>", "for_each": "<for_each>", "for_any": "<for_any>"}
_COMPARE_TAG = "<compare>"
_TAG_BY_MODEL = {AllOf: "<all>", AnyOf: "<any>", Not: "<not>", ForEach: "<for_each>", ForAny: "<for_any>"}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _COMPARE_TAG if isinstance(value, Compare) else _TAG_BY_MODEL.get(type(value))
    if isinstance(value, dict):
        for key, tag in CONDITION_TAGS.items():
            if key in value:
                return tag
        if "op" in value:
            return _COMPARE_TAG
    return None


def is_condition_tag(part: object) -> bool:
    return isinstance(part, str) and part.startswith("<") and part.endswith(">")


Condition = Annotated[
    Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[Not, Tag("<not>")]
    | Annotated[ForEach, Tag("<for_each>")]
    | Annotated[ForAny, Tag("<for_any>")]
    | Annotated[Compare, Tag(_COMPARE_TAG)],
    Discriminator(
        _condition_tag,
        custom_error_type="unknown_condition",
        custom_error_message="a condition needs one of the keys all, any, not, for_each, for_any, or op (a comparison)",
    ),
]

for _model in (AllOf, AnyOf, Not, ForEach, ForAny):
    _model.model_rebuild()


ParameterType = Literal["string", "boolean", "integer", "number", "version", "string_list", "pattern_map"]


class Parameter(BaseModel):
    model_config = _STRICT
    type: ParameterType
    default: Any
    description: str = Field(min_length=1)


class Remediation(BaseModel):
    model_config = _STRICT
    text: str = Field(min_length=1)
    url: str = Field(pattern=r"^https://")


class References(BaseModel):
    """What a policy judges, and what it answers to.

    ``security_hub_controls`` and ``control_tower_controls``: the controls the policy judges exactly, so each
    control maps to one policy. ``related_controls``: controls a stricter policy implies without judging them
    as they are written (awsvpc required implies ECS.17's "not host"). ``requirements``: the framework
    requirements AWS lists for the control (``NIST.800-53.r5 AC-6``), the finding's RelatedRequirements.
    """

    model_config = _STRICT
    security_hub_controls: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]+\.\d+$")]] = []
    control_tower_controls: list[Annotated[str, Field(pattern=r"^CT\.[A-Z0-9]+\.PR\.\d+$")]] = []
    related_controls: list[Annotated[str, Field(pattern=r"^(?:[A-Za-z0-9]+\.\d+|CT\.[A-Z0-9]+\.PR\.\d+)$")]] = []
    config_rules: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]] = []
    requirements: list[Annotated[str, Field(min_length=1, max_length=256)]] = []
    urls: list[Annotated[str, Field(pattern=r"^https://")]] = []


class PolicyDocument(BaseModel):
    """One policy file as written."""

    model_config = _STRICT
    id: str = Field(pattern=POLICY_ID.pattern)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    severity: Severity
    resource: ResourceType
    # Other types the policy judges: a task definition policy judges a task (AWS::ECS::Task) as the task definition
    # it runs; a service policy judges a task set or a task through the same launch fields, which must be theirs.
    also_judges: list[ResourceType] = []
    # The packs a deployment selects policies by (mission, fsbp, control-tower, hardening, or a team's own).
    packs: list[Annotated[str, Field(pattern=POLICY_ID.pattern)]] = Field(min_length=1)
    parameters: dict[str, Parameter] = {}
    remediation: Remediation
    references: References = References()
    applies_when: Condition | None = None
    # Why a resource that applies_when leaves out is not judged, shown with its NOT_APPLICABLE result.
    not_applicable_reason: str | None = Field(default=None, min_length=1, max_length=512)
    # What a resource gets when the policy needs a value known only at deploy (a template's !Ref) to judge it:
    # NOT_APPLICABLE, or ERROR for a policy whose readers would rather stop than let it through unjudged.
    when_unknown: Literal["not_applicable", "error"] = "not_applicable"
    check: Condition

    @model_validator(mode="after")
    def _other_types(self) -> PolicyDocument:
        if self.resource in self.also_judges:
            raise ValueError(f"also_judges repeats the policy's own resource {self.resource.value}")
        if len(set(self.also_judges)) != len(self.also_judges):
            raise ValueError("also_judges lists a resource type twice")
        return self

    @field_validator("packs")
    @classmethod
    def _distinct_packs(cls, value: list[str]) -> list[str]:
        repeated = sorted({pack for pack in value if value.count(pack) > 1})
        if repeated:
            raise ValueError(f"pack '{repeated[0]}' is listed twice")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not IDENTIFIER.match(name):
                raise ValueError(f"parameter name '{name}' must be an identifier")
        return value
