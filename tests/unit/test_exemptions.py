"""Exemptions: which resources a selector picks by their ARN, how a FAIL becomes EXEMPT, and how strictly an
exemptions file is loaded (every problem with its file and line)."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from ecsguard.catalog import load_policy_set
from ecsguard.core.exemptions import ExemptionSet, glob_pattern, resource_facts
from ecsguard.core.models import ResourceType, Severity
from ecsguard.core.results import Evidence, Exempted, ResourceRef, Result, Status
from ecsguard.exemptions_file import ExemptionsLoadError, load_exemptions
from policy_catalog import POLICY_DIR

TODAY = date(2026, 12, 1)
ACCOUNT, OTHER_ACCOUNT = "123456789012", "210987654321"
LEGACY_TD = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/legacy-proxy:12"
LEGACY_SERVICE = f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/prod/legacy-web"
TASK_SET = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-set/prod/legacy-web/ecs-svc/1234567890123456789"
CLUSTER = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod"
POLICY_IDS = {"ecs-network-awsvpc", "ecs-images-ecr-only", "ecs-secrets-managed", "ecs-cluster-container-insights"}


def write(tmp_path: Path, text: str, name: str = "exemptions.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def entry(
    resources: str = '      families: ["legacy-*"]',
    policies: str = "[ecs-network-awsvpc]",
    expires: str = "2027-03-31",
    identifier: str = "legacy-proxy-bridge",
) -> str:
    return (
        f"  - id: {identifier}\n"
        f"    policies: {policies}\n"
        f"    resources:\n{resources}\n"
        f"    reason: Migrating to awsvpc in Q1; tracked in SEC-123.\n"
        f"    owner: platform-security@example.com\n"
        f"    ticket: SEC-123\n"
        f"    expires: {expires}\n"
    )


def loaded(tmp_path: Path, *entries: str, today: date = TODAY) -> ExemptionSet:
    return load_exemptions(write(tmp_path, "exemptions:\n" + "".join(entries)), POLICY_IDS, today)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ExemptionsLoadError) as raised:
        load_exemptions(path, POLICY_IDS, TODAY)
    assert str(raised.value).startswith(f"{len(raised.value.problems)} problem(s) in the exemptions file")
    return [str(problem).replace(str(path), "FILE") for problem in raised.value.problems]


def result(arn: str, status: Status = Status.FAIL, policy_id: str = "ecs-network-awsvpc") -> Result:
    kind = {"task-definition": ResourceType.TASK_DEFINITION, "service": ResourceType.SERVICE}.get(
        arn.split(":", 5)[-1].split("/", maxsplit=1)[0], ResourceType.CLUSTER
    )
    evidence = (Evidence("networkMode", "networkMode is bridge"),) if status is Status.FAIL else ()
    return Result(policy_id, ResourceRef(kind, arn), status, Severity.MEDIUM, "t", evidence)


# --- selectors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "text", "matches"),
    [
        ("legacy-*", "legacy-proxy", True),
        ("legacy-*", "legacy-", True),
        ("legacy-*", "new-legacy-proxy", False),  # the whole text, not a part of it
        ("web-?", "web-1", True),
        ("web-?", "web-12", False),
        ("a.b", "aXb", False),  # "." is a dot, not any character
        ("Prod", "prod", False),  # case sensitive, as ECS names are
        ("arn:aws:ecs:*:*:task-definition/legacy-proxy:*", LEGACY_TD, True),
    ],
)
def test_glob_has_only_star_and_question_mark_as_wildcards(glob: str, text: str, matches: bool) -> None:
    assert bool(glob_pattern(glob).match(text)) is matches


def test_resource_facts_read_each_ecs_arn() -> None:
    td, service, task_set, cluster = (resource_facts(arn) for arn in (LEGACY_TD, LEGACY_SERVICE, TASK_SET, CLUSTER))
    assert td is not None
    assert (td.account, td.region, td.family, td.cluster) == (
        ACCOUNT,
        "us-east-1",
        "legacy-proxy",
        None,
    )
    assert service is not None
    assert (service.cluster, service.service, service.family) == ("prod", "legacy-web", None)
    assert task_set is not None
    assert (task_set.cluster, task_set.service) == ("prod", "legacy-web")
    assert cluster is not None
    assert (cluster.region, cluster.cluster, cluster.service) == ("eu-west-1", "prod", None)
    assert resource_facts("file.json#web") is None


def test_exemption_turns_a_covered_fail_into_exempt_with_its_details(tmp_path: Path) -> None:
    exemptions = loaded(tmp_path, entry())

    (applied,) = exemptions.apply([result(LEGACY_TD)], TODAY)

    assert applied.status is Status.EXEMPT
    assert applied.exemption == Exempted(
        "legacy-proxy-bridge",
        "platform-security@example.com",
        "Migrating to awsvpc in Q1; tracked in SEC-123.",
        "2027-03-31",
        "SEC-123",
    )
    assert applied.evidence == result(LEGACY_TD).evidence  # the failure's evidence stays


@pytest.mark.parametrize("status", [Status.PASS, Status.ERROR, Status.NOT_APPLICABLE])
def test_exemption_covers_failures_only(tmp_path: Path, status: Status) -> None:
    exemptions = loaded(tmp_path, entry())

    assert exemptions.apply([result(LEGACY_TD, status)], TODAY) == [result(LEGACY_TD, status)]


@pytest.mark.parametrize(
    ("today", "applies"),
    [(date(2027, 3, 31), True), (date(2027, 4, 1), False)],  # through the whole day it expires on
)
def test_exemption_applies_until_its_expiry_day_included(tmp_path: Path, today: date, applies: bool) -> None:
    exemptions = loaded(tmp_path, entry())

    (applied,) = exemptions.apply([result(LEGACY_TD)], today)

    assert (applied.status is Status.EXEMPT) is applies


@pytest.mark.parametrize(
    ("resources", "arn", "covered"),
    [
        (f'      accounts: ["{ACCOUNT}"]', LEGACY_TD, True),
        (f'      accounts: ["{ACCOUNT}"]', LEGACY_TD.replace(ACCOUNT, OTHER_ACCOUNT), False),
        ("      regions: [eu-*]", LEGACY_TD, False),
        ("      regions: [eu-*]", CLUSTER, True),
        (f'      accounts: ["{ACCOUNT}"]\n      families: [legacy-proxy]', LEGACY_TD, True),
        (f'      accounts: ["{OTHER_ACCOUNT}"]\n      families: [legacy-proxy]', LEGACY_TD, False),  # every one
        ("      families: [legacy-proxy]", LEGACY_SERVICE, False),  # a service has no family
        ("      clusters: [prod]\n      services: [legacy-*]", LEGACY_SERVICE, True),
        ("      clusters: [prod]\n      services: [legacy-*]", TASK_SET, True),
        ("      clusters: [staging]", LEGACY_SERVICE, False),
        ("      clusters: [prod]", CLUSTER, True),
        ('      arns: ["arn:aws:ecs:*:*:task-definition/legacy-proxy:*"]', LEGACY_TD, True),
        ('      arns: ["arn:aws:ecs:*:*:task-definition/legacy-proxy:*"]', LEGACY_SERVICE, False),
    ],
)
def test_exemption_covers_a_resource_only_when_every_selector_given_matches(
    tmp_path: Path, resources: str, arn: str, covered: bool
) -> None:
    exemptions = loaded(tmp_path, entry(resources))

    (applied,) = exemptions.apply([result(arn)], TODAY)

    assert (applied.status is Status.EXEMPT) is covered


def test_exemption_covers_only_the_policies_it_names(tmp_path: Path) -> None:
    exemptions = loaded(tmp_path, entry())

    (applied,) = exemptions.apply([result(LEGACY_TD, policy_id="ecs-images-ecr-only")], TODAY)

    assert applied.status is Status.FAIL


def test_resource_without_an_arn_is_never_exempted(tmp_path: Path) -> None:
    exemptions = loaded(tmp_path, entry('      arns: ["*"]'))

    (applied,) = exemptions.apply([result("scanned/legacy.json#legacy-proxy")], TODAY)

    assert applied.status is Status.FAIL


def test_first_exemption_in_the_file_that_covers_a_failure_is_the_one_it_carries(tmp_path: Path) -> None:
    exemptions = loaded(
        tmp_path,
        entry(identifier="expired-first", expires="2026-11-30"),
        entry(identifier="second"),
        entry(identifier="third"),
    )

    (applied,) = exemptions.apply([result(LEGACY_TD)], TODAY)

    assert applied.exemption is not None
    assert applied.exemption.id == "second"


# --- the file -----------------------------------------------------------------------------------


def test_expired_exemption_loads_and_does_not_apply(tmp_path: Path) -> None:
    exemptions = loaded(tmp_path, entry(expires="2026-06-30"))

    assert exemptions.ids() == ["legacy-proxy-bridge"]
    assert exemptions.apply([result(LEGACY_TD)], TODAY)[0].status is Status.FAIL


def test_exemption_without_expiry_is_rejected_with_file_and_line(tmp_path: Path) -> None:
    text = "exemptions:\n" + entry().replace("    expires: 2027-03-31\n", "")
    assert problems(tmp_path, text) == ["FILE:2: exemptions[0].expires: missing required key 'expires'"]


def test_exemption_beyond_the_longest_lifetime_is_rejected(tmp_path: Path) -> None:
    late = (TODAY + timedelta(days=366)).isoformat()
    assert problems(tmp_path, "exemptions:\n" + entry(expires=late)) == [
        f"FILE:9: exemptions[0].expires: expires {late}, more than 365 days after today (2026-12-01); an exemption "
        "must be renewed at least that often"
    ]


def test_longest_lifetime_is_a_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "exemptions:\n" + entry(expires=(TODAY + timedelta(days=40)).isoformat()))

    assert load_exemptions(path, POLICY_IDS, TODAY, max_lifetime_days=40).ids() == ["legacy-proxy-bridge"]
    with pytest.raises(ExemptionsLoadError):
        load_exemptions(path, POLICY_IDS, TODAY, max_lifetime_days=39)


def test_exemption_naming_an_unknown_policy_is_rejected_with_its_line(tmp_path: Path) -> None:
    text = "exemptions:\n" + entry(policies="[ecs-network-awsvpc, ecs-network-awsvcp]")
    assert problems(tmp_path, text) == ["FILE:3: exemptions[0].policies[1]: names unknown policy 'ecs-network-awsvcp'"]


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ("      tags: [owner]", "FILE:5: exemptions[0].resources.tags: unknown key 'tags'"),
        ('      clusters: ["[prod]"]', "FILE:5: exemptions[0].resources.clusters: a glob may hold any character but"),
        ("      clusters: []", "FILE:5: exemptions[0].resources.clusters: lists no value; leave the selector out"),
        ("      {}", "FILE:4: exemptions[0].resources: selects every resource: give at least one selector"),
    ],
)
def test_bad_selectors_are_rejected_with_their_line(tmp_path: Path, resources: str, expected: str) -> None:
    (problem,) = problems(tmp_path, "exemptions:\n" + entry(resources))
    assert problem.startswith(expected)


def test_duplicate_ids_and_unknown_keys_are_each_reported(tmp_path: Path) -> None:
    text = "exemptions:\n" + entry() + entry().replace("    ticket: SEC-123\n", "    tiket: SEC-123\n")
    assert problems(tmp_path, text) == [
        "FILE:16: exemptions[1].tiket: unknown key 'tiket' (did you mean 'ticket'?)",
    ]
    text = "exemptions:\n" + entry() + entry()
    assert problems(tmp_path, text) == [
        "FILE:10: exemptions[1].id: exemption id 'legacy-proxy-bridge' is also used at line 2"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", "FILE:1: an exemptions file must be a mapping of keys"),
        ("exemptions: [\n", "FILE:2: invalid YAML"),
        ("exemption: []\n", "FILE:1: exemption: unknown key 'exemption' (did you mean 'exemptions'?)"),
    ],
)
def test_exemptions_file_that_is_not_one_is_rejected(tmp_path: Path, text: str, expected: str) -> None:
    assert any(problem.startswith(expected) for problem in problems(tmp_path, text))


def test_bad_date_is_rejected_without_quoting_it(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, "exemptions:\n" + entry(expires="31/03/2027"))
    assert problem.startswith("FILE:9: exemptions[0].expires: ")
    assert "31/03/2027" not in problem


def test_policy_folder_exemptions_file_is_not_read_as_a_policy(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    for source in POLICY_DIR.glob("ecs-network-awsvpc.yaml"):
        (folder / source.name).write_bytes(source.read_bytes())
    write(folder, "exemptions:\n" + entry())

    assert [policy.id for policy in load_policy_set(folder).policies] == ["ecs-network-awsvpc"]
