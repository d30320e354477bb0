"""`ecsguard scan` on CloudFormation and SAM templates and CDK cloud assemblies: a template's task definition, service
and cluster get the verdicts of what deploying it creates, named by file and logical id, at the line that says so.

tests/fixtures/templates/ (see its README.md) holds templates as people and tools write them: a hand-written Fargate
stack, what `sam init` writes, a SAM project with a Fargate worker, and what `cdk synth` writes for
ApplicationLoadBalancedFargateService. Beside each stack with ECS resources, deployed/ holds the CloudTrail records of
the ECS calls CloudFormation makes to create it, written by hand: the oracle the template mapping is checked against,
policy by policy.
"""

from __future__ import annotations

import contextlib
import functools
import html
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ecsguard.cli import main
from ecsguard.report import FORMATS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "templates"
EFS_EVENT = REPO / "events" / "ecs-register-task-definition-efs.json"
CLUSTER, TASK_DEFINITION, SERVICE = "AWS::ECS::Cluster", "AWS::ECS::TaskDefinition", "AWS::ECS::Service"
KINDS = {CLUSTER, TASK_DEFINITION, SERVICE}
CDK_TEMPLATE = FIXTURES / "cdk-alb-fargate" / "cdk.out" / "AlbFargateStack.template.json"
# Values the templates plant (README.md); no output may show them.
PLANTED = ("Zq8!template-plaintext-pw", "Wq4-sam-worker-token", "Kx7-sam-function-signing-key")
# What html_report writes the policies' own text in, and nothing else (as test_cli_planted_values.py reads it).
POLICY_TEXT = re.compile(r'<aside class="policy-text">.*?</aside>', re.S)


class Verdict(NamedTuple):
    status: str
    failing_paths: tuple[str, ...]  # the evidence paths of a FAIL; () for any other status


Verdicts = dict[tuple[str, str], Verdict]  # (resource type, policy id) -> its verdict


class Stack(NamedTuple):
    name: str
    template: Path  # what is scanned: a template, or a cdk.out folder
    deployed: Path  # the CloudTrail records of its deploy
    logical_ids: dict[str, str]  # resource type -> the logical id of the one resource of that type


STACKS = {
    stack.name: stack
    for stack in (
        Stack(
            "fargate-stack",
            FIXTURES / "fargate-stack" / "template.yaml",
            FIXTURES / "fargate-stack" / "deployed",
            {CLUSTER: "Cluster", TASK_DEFINITION: "TaskDefinition", SERVICE: "Service"},
        ),
        Stack(
            "sam-fargate",
            FIXTURES / "sam-fargate" / "template.yaml",
            FIXTURES / "sam-fargate" / "deployed",
            {CLUSTER: "WorkerCluster", TASK_DEFINITION: "WorkerTaskDefinition", SERVICE: "WorkerService"},
        ),
        Stack(
            "cdk-alb-fargate",
            FIXTURES / "cdk-alb-fargate" / "cdk.out",
            FIXTURES / "cdk-alb-fargate" / "deployed",
            {
                CLUSTER: "MyCluster4C1BA579",
                TASK_DEFINITION: "MyFargateServiceTaskDef5DA17B39",
                SERVICE: "MyFargateServiceF490C034",
            },
        ),
    )
}

# Verdicts a template cannot share with its deploy, each for a reason stated here: (type, policy) ->
# (the template's verdict, the deployed one's). Every other policy must agree, FAIL evidence paths included.
PRINCIPLED: dict[str, dict[tuple[str, str], tuple[Verdict, Verdict]]] = {
    "fargate-stack": {},
    "sam-fargate": {
        # The cluster writes no Tags: CloudFormation gives it the stack's tags at deploy, which the template cannot
        # know (unknown, so NOT_APPLICABLE); this stack was deployed without tags, so the cluster has none.
        (CLUSTER, "ecs-cluster-tagged"): (Verdict("NOT_APPLICABLE", ()), Verdict("FAIL", ("tags",))),
        # ECS reports platformFamily only in its answer (responseElements). Before deploy the service has none, so
        # the policy reads the task definition's operating system family instead: LINUX, the same verdict.
        (SERVICE, "ecs-fargate-latest-platform-version"): (
            Verdict(
                "FAIL", ("platformVersion", "platformFamily", "$taskDefinition.runtimePlatform.operatingSystemFamily")
            ),
            Verdict("FAIL", ("platformVersion", "platformFamily")),
        ),
    },
    "cdk-alb-fargate": {},
}


def scan(capsys: pytest.CaptureFixture[str], *paths: Path, output: str = "json") -> tuple[int, str, str]:
    status = main(["scan", "--pack", "all", "--format", output, *map(str, paths)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def scan_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, dict[str, Any]]:
    status, out, _ = scan(capsys, *paths)
    return status, json.loads(out)


@functools.cache
def _scanned_fixture(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["scan", "--pack", "all", "--format", "json", str(path)])
    return status, out.getvalue()


def scan_fixture(path: Path) -> tuple[int, dict[str, Any]]:
    """``scan_json`` of one fixture, scanned once per session (several tests read the same scan; a fresh copy each)."""
    status, out = _scanned_fixture(path)
    return status, json.loads(out)


def verdicts(document: dict[str, Any]) -> Verdicts:
    """Every result by resource type and policy: the inputs hold one resource of each type."""
    found: Verdicts = {}
    for result in document["results"]:
        key = (result["resource"]["type"], result["policy_id"])
        assert key not in found, f"two resources of type {key[0]}"
        paths = tuple(e["path"] for e in result["evidence"]) if result["status"] == "FAIL" else ()
        found[key] = Verdict(result["status"], paths)
    return found


def results_of(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["resource"]["type"], r["policy_id"]): r for r in document["results"]}


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the one line of ``path`` that contains ``text``."""
    lines = [number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line]
    assert len(lines) == 1, f"{text!r} is on lines {lines} of {path}"
    return lines[0]


def strings(value: Any) -> Iterator[str]:
    """Every string (keys and values) in a JSON document: what it shows as text."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def shown_text(output_format: str, out: str) -> str:
    """What a format's output shows of the results: SARIF without its rules (the policies' own text, the same
    whatever is scanned) read as the strings it holds, and HTML without the policies' text, unescaped."""
    if output_format == "sarif":
        log = json.loads(out)
        rules = [run["tool"]["driver"].pop("rules") for run in log["runs"]]
        assert rules, "the rules were there to take out"
        assert all(rules), "the rules were there to take out"
        return "\n".join(strings(log))
    if output_format == "html":
        assert not [aside for aside in POLICY_TEXT.findall(out) if 'class="resource"' in aside]
        return html.unescape(POLICY_TEXT.sub("", out))
    return out


# A password with ": " in it, unquoted, is a YAML syntax error on its own line ("mapping values are not allowed").
MALFORMED_SECRET = "Vq3: malformed-template-pw"
MALFORMED = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  TaskDefinition:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: billing
      ContainerDefinitions:
        - Name: app
          Image: public.ecr.aws/nginx/nginx:1.27
          Environment:
            - Name: DB_PASSWORD
              Value: {MALFORMED_SECRET}
"""
# The same template with its password written as an alias that names no anchor (a value beginning with "*").
ALIAS_SECRET = "Vq3-alias-secret-pw"
UNDEFINED_ALIAS = MALFORMED.replace(MALFORMED_SECRET, f"*{ALIAS_SECRET}")
# ... and as a value beginning with "!", which YAML reads as a tag and cfn-lint as an unknown intrinsic function.
TAG_SECRET = "Vq3-tag-secret-pw"
TAGGED = MALFORMED.replace(MALFORMED_SECRET, f"!{TAG_SECRET}")


def write_template(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the same verdicts as the deploy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STACKS))
def test_template_verdicts_equal_those_of_the_calls_that_deploy_it(name: str) -> None:
    # GIVEN a template, and the CloudTrail records of the ECS calls CloudFormation made to create its stack
    stack = STACKS[name]

    # WHEN both are scanned
    template_status, template = scan_fixture(stack.template)
    deployed_status, deployed = scan_fixture(stack.deployed)
    from_template, from_calls = verdicts(template), verdicts(deployed)

    # THEN both hold one cluster, task definition and service, read without input errors
    assert {kind for kind, _ in from_template} == KINDS
    assert {kind for kind, _ in from_calls} == KINDS
    assert template["summary"]["input_errors"] == deployed["summary"]["input_errors"] == []
    # and every policy gives each pair of resources the same verdict, with the same FAIL evidence paths, but for the
    # differences stated above, exactly those
    assert from_template.keys() == from_calls.keys()
    differences = {
        key: (from_template[key], from_calls[key]) for key in from_template if from_template[key] != from_calls[key]
    }
    listed = "\n".join(f"{key}: template {ours}, deployed {theirs}" for key, (ours, theirs) in differences.items())
    assert differences == PRINCIPLED[name], listed
    # and the comparison was over real verdicts: some fail, some pass, in both
    assert {"FAIL", "PASS"} <= {verdict.status for verdict in from_calls.values()}
    assert template_status == deployed_status == 1


def test_a_tagged_stack_is_judged_without_unknowns() -> None:
    # GIVEN the hand-written stack, whose ECS resources all write their Tags and whose properties the policies read
    # are plain text or references the template resolves (pseudo parameters, its role, secret and log group)
    _, document = scan_fixture(STACKS["fargate-stack"].template)

    # THEN no verdict waits for the deploy
    assert [r for r in document["results"] if "known only at deploy" in r.get("reason", "")] == []


def test_a_cluster_without_tags_is_unknown_until_deploy_not_failed() -> None:
    # GIVEN the SAM stack's cluster, which writes no Tags (CloudFormation adds the stack's at deploy)
    _, document = scan_fixture(STACKS["sam-fargate"].template)

    # WHEN its tagging policy is judged
    tagged = results_of(document)[(CLUSTER, "ecs-cluster-tagged")]

    # THEN it is not applicable, saying what is unknown; the tagged task definition and service pass
    assert tagged["status"] == "NOT_APPLICABLE"
    assert tagged["reason"] == "known only at deploy: tags is the stack's tags, which CloudFormation adds at deploy"
    assert results_of(document)[(SERVICE, "ecs-service-tagged")]["status"] == "PASS"
    assert results_of(document)[(TASK_DEFINITION, "ecs-task-definition-tagged")]["status"] == "PASS"


# --- names and lines -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STACKS))
def test_template_results_name_the_file_and_logical_id(name: str) -> None:
    stack = STACKS[name]
    template_file = CDK_TEMPLATE if stack.template.is_dir() else stack.template

    _, document = scan_fixture(stack.template)

    ids = {(r["resource"]["type"], r["resource"]["id"]) for r in document["results"]}
    assert ids == {(kind, f"{template_file}#{logical_id}") for kind, logical_id in stack.logical_ids.items()}
    assert {r["source"] for r in document["results"]} == {str(template_file)}


def test_planted_password_evidence_names_the_line_of_its_item(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the hand-written stack, whose container has DB_PASSWORD in plaintext
    template = STACKS["fargate-stack"].template
    expected = line_of(template, "- Name: DB_PASSWORD")

    # WHEN it is scanned as JSON and as SARIF
    _, document = scan_fixture(template)
    _, out, _ = scan(capsys, template, output="sarif")
    sarif = [r for run in json.loads(out)["runs"] for r in run["results"] if r["ruleId"] == "ecs-secrets-managed"]

    # THEN the failure's evidence is that environment item, at its line
    secrets = results_of(document)[(TASK_DEFINITION, "ecs-secrets-managed")]
    assert secrets["status"] == "FAIL"
    assert [(e["path"], e["line"]) for e in secrets["evidence"]] == [
        ("containerDefinitions[0].environment[1]", expected)
    ]
    # and SARIF puts the template and that line in its one location
    assert len(sarif) == 1
    (location,) = sarif[0]["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": str(template)},
        "region": {"startLine": expected},
    }


# --- what a scan reads, and what it skips ----------------------------------------------------------------------------


def test_sam_hello_world_has_no_ecs_resources_and_is_skipped_with_a_reason() -> None:
    # GIVEN what `sam init --app-template hello-world` writes: a function, its code and samconfig.toml
    project = FIXTURES / "sam-hello-world"

    # WHEN the project folder is scanned
    status, document = scan_fixture(project)

    # THEN its one template is read and skipped, saying why; nothing failed
    summary = document["summary"]
    assert (status, summary["files"], document["results"], summary["input_errors"]) == (0, 1, [], [])
    assert summary["skipped"] == [
        {
            "source": str(project / "template.yaml"),
            "reason": "a CloudFormation template with no ECS task definition, service, cluster or task set",
        }
    ]


def test_a_cdk_assembly_is_read_for_its_templates_only(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a cloud assembly: its manifests (JSON), and the app's files bundled as an asset, JSON and YAML among them
    assembly = STACKS["cdk-alb-fargate"].template
    (asset,) = assembly.glob("asset.*")
    bundled = [p for p in asset.iterdir() if p.suffix in (".json", ".yaml")]
    manifests = [assembly / name for name in ("manifest.json", "tree.json", "AlbFargateStack.assets.json")]
    assert sorted(p.name for p in bundled) == ["config.json", "openapi.yaml", "package.json"]

    # WHEN the assembly is scanned, and, for contrast, those files alone
    status, document = scan_fixture(assembly)
    contrast_status, contrast = scan_json(capsys, *manifests, *bundled)

    # THEN only the synthesised template was read: no input error, and exit status 1 for its findings alone
    assert (status, document["summary"]["files"], document["summary"]["input_errors"]) == (1, 1, [])
    assert {r["source"] for r in document["results"]} == {str(CDK_TEMPLATE)}
    # while each of the other files, read as an input, is an input error: the assembly scan did leave them out
    assert contrast_status == 2
    named = sorted(error.split(": ", 1)[0] for error in contrast["summary"]["input_errors"])
    assert named == sorted(map(str, [*manifests, *bundled]))


# --- no planted value in any output ----------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", sorted(FORMATS))
def test_no_planted_value_reaches_any_output_format(
    output_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN every template, the records of their deploys (which hold the same plaintext), and two malformed
    # templates whose syntax errors are on the lines of their passwords
    malformed = write_template(tmp_path / "malformed", "template.yaml", MALFORMED)
    alias = write_template(tmp_path / "alias", "template.yaml", UNDEFINED_ALIAS)
    stacks = [path for stack in STACKS.values() for path in (stack.template, stack.deployed)]

    # WHEN they are scanned together in this format
    status, out, err = scan(capsys, *stacks, FIXTURES / "sam-hello-world", malformed, alias, output=output_format)
    printed = shown_text(output_format, out) + err

    # THEN the scan reported on the planted password and named both unreadable files, and no planted value shows
    assert status == 2
    assert "ecs-secrets-managed" in printed
    assert f"{STACKS['fargate-stack'].template}#TaskDefinition" in printed
    assert str(malformed) in err
    assert str(alias) in err
    secrets = (*PLANTED, MALFORMED_SECRET, "malformed-template-pw", ALIAS_SECRET)
    assert [value for value in secrets if value in printed] == []


def test_a_malformed_template_names_file_line_and_column_and_the_others_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a template whose password, unquoted, holds ": " (a YAML syntax error), and a good template beside it
    malformed = write_template(tmp_path, "template.yaml", MALFORMED)
    line = line_of(malformed, MALFORMED_SECRET)
    column = MALFORMED.splitlines()[line - 1].index(": malformed") + 1  # the second colon, counted from 1
    good = STACKS["fargate-stack"].template

    # WHEN both are scanned
    status, document = scan_json(capsys, malformed, good)

    # THEN the input error names the file, the line and column of the second colon, and not the password
    (error,) = document["summary"]["input_errors"]
    assert error.startswith(f"{malformed}: not a readable template at line {line}, column {column}: ")
    assert "malformed-template-pw" not in error
    assert "Vq3" not in error
    # and the good template's resources were judged, the scan exiting 2 for the unreadable file
    assert status == 2
    assert {r["source"] for r in document["results"]} == {str(good)}
    assert len({r["resource"]["id"] for r in document["results"]}) == 3


def test_an_undefined_alias_names_its_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a template whose password begins with "*", an alias of no anchor
    malformed = write_template(tmp_path, "template.yaml", UNDEFINED_ALIAS)
    line = line_of(malformed, ALIAS_SECRET)
    column = UNDEFINED_ALIAS.splitlines()[line - 1].index("*") + 1

    _, document = scan_json(capsys, malformed)

    # (that the alias is not printed is test_no_planted_value_reaches_any_output_format's)
    (error,) = document["summary"]["input_errors"]
    assert error.startswith(f"{malformed}: not a readable template at line {line}, column {column}: ")


@pytest.mark.parametrize("output_format", sorted(FORMATS))
def test_a_password_read_as_a_yaml_tag_is_not_printed(
    output_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a template whose password, unquoted, begins with "!"
    tagged = write_template(tmp_path, "template.yaml", TAGGED)

    # WHEN it is scanned
    _, out, err = scan(capsys, tagged, output=output_format)

    # THEN its policies are judged, and the password is not printed
    assert f"{tagged}#TaskDefinition" in out
    assert TAG_SECRET not in shown_text(output_format, out) + err


# --- related resources, and what only the deploy knows ---------------------------------------------------------------


def test_a_service_is_judged_with_a_task_definition_from_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a template whose service on Fargate 1.3.0 names its task definition reports-efs:3, registered elsewhere:
    # the RegisterTaskDefinition event of that revision, which mounts EFS
    template = FIXTURES / "service-task-definition-elsewhere" / "template.yaml"
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(template, alone)
    together = tmp_path / "together"
    together.mkdir()
    shutil.copy(template, together)
    shutil.copy(EFS_EVENT, together)

    # WHEN the template is scanned with the event, and without it
    _, with_event = scan_json(capsys, together)
    _, without = scan_json(capsys, alone)

    # THEN with it the service is judged on the event's task definition: EFS on 1.3.0 fails, at the version's line
    efs = results_of(with_event)[(SERVICE, "ecs-efs-fargate-platform")]
    assert efs["resource"]["id"] == f"{together / 'template.yaml'}#ReportsService"
    assert efs["status"] == "FAIL"
    expected = line_of(template, 'PlatformVersion: "1.3.0"')
    assert [(e["path"], e["line"]) for e in efs["evidence"]] == [("platformVersion", expected)]
    # and without it the task definition is missing, an error naming it
    missing = results_of(without)[(SERVICE, "ecs-efs-fargate-platform")]
    assert missing["status"] == "ERROR"
    assert "task definition 'reports-efs:3' is not among the scanned inputs" in missing["reason"]


def test_efs_on_fargate_1_3_0_in_one_template_fails_at_the_platform_version_line() -> None:
    # GIVEN a template whose task definition mounts an EFS volume and whose service pins Fargate 1.3.0
    template = FIXTURES / "efs-fargate-1.3.0" / "template.yaml"

    # WHEN it is scanned
    _, document = scan_fixture(template)
    found = results_of(document)

    # THEN the EFS platform policy fails the service, its evidence the platformVersion at its line
    efs = found[(SERVICE, "ecs-efs-fargate-platform")]
    assert efs["status"] == "FAIL"
    assert [(e["path"], e["line"]) for e in efs["evidence"]] == [
        ("platformVersion", line_of(template, 'PlatformVersion: "1.3.0"'))
    ]
    # and the volume was read under its API names (EFSVolumeConfiguration, TransitEncryption ENABLED)
    assert found[(TASK_DEFINITION, "ecs-efs-transit-encryption")]["status"] == "PASS"


def test_an_image_given_at_deploy_is_unknown_while_a_definite_failure_stands() -> None:
    # GIVEN a privileged container whose image is a template parameter (!Ref ImageUri)
    template = FIXTURES / "image-parameter" / "template.yaml"

    # WHEN it is scanned
    _, document = scan_fixture(template)
    found = results_of(document)

    # THEN the image policies are not applicable, naming the property and the parameter
    for policy_id in ("ecs-images-ecr-only", "ecs-images-pinned-by-digest"):
        image = found[(TASK_DEFINITION, policy_id)]
        assert image["status"] == "NOT_APPLICABLE"
        assert image["reason"] == (
            "known only at deploy: containerDefinitions[0].image is !Ref ImageUri, a parameter given at deploy"
        )
    # while privileged, whatever the image, fails at its line
    privileged = found[(TASK_DEFINITION, "ecs-containers-nonprivileged")]
    assert privileged["status"] == "FAIL"
    assert [(e["path"], e["line"]) for e in privileged["evidence"]] == [
        ("containerDefinitions[0].privileged", line_of(template, "Privileged: true"))
    ]


def test_cdk_asset_image_is_judged_as_ecr() -> None:
    # GIVEN CDK's ApplicationLoadBalancedFargateService with a DockerImageAsset: its image is
    # ${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/cdk-hnb659fds-container-assets-${AWS::AccountId}-
    # ${AWS::Region}:<hash>, an ECR image by tag wherever the stack is deployed
    _, document = scan_fixture(STACKS["cdk-alb-fargate"].template)
    found = verdicts(document)

    # THEN it is judged as the deployed one is: from ECR, and not pinned by digest
    assert found[(TASK_DEFINITION, "ecs-images-ecr-only")] == Verdict("PASS", ())
    assert found[(TASK_DEFINITION, "ecs-images-pinned-by-digest")] == Verdict(
        "FAIL", ("containerDefinitions[0].image",)
    )
