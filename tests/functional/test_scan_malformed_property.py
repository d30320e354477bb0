"""Property: whatever a malformed input holds, a value planted in every string position reaches no output, the
scan exits 2 naming the file, and the other files are still scanned.

Hypothesis generates the malformed inputs: task definitions, services and CloudTrail events with one field of
the wrong type (so that the input cannot be read), the planted value in every string (names, values, images,
map keys), and unknown documents, scalars and broken YAML. Each example is scanned beside a good task definition,
in JSON and in text, through the real command line (in this process, for speed).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecsguard.cli import main

# A "+" as in base64 secrets: values shaped like a name (letters, digits, _ . - :) are shown as names and ids by
# design (README, "Writing policies"), so the planted value is one that no name, mode or version can be.
PLANTED = "PLANTED+q7Zx"
ACCOUNT = "123456789012"
GOOD_ARN = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/good:1"
GOOD = {
    "taskDefinitionArn": GOOD_ARN,
    "family": "good",
    "revision": 1,
    "networkMode": "awsvpc",
    "containerDefinitions": [{"name": "app", "image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/good:1"}],
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Strings that all carry the planted value, in shapes a careless message would quote.
planted = st.sampled_from(["", "x", "db:", "https://u:", "-----BEGIN ", " ", "é"]).map(lambda head: head + PLANTED)
scalars = st.one_of(planted, st.integers(-5, 10**12), st.booleans(), st.floats(allow_nan=False, allow_infinity=False))
junk = st.recursive(
    scalars | st.none(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(planted, children, max_size=3),
    max_leaves=8,
)
# A value of the wrong type for a field the models type as a string, a number, a list or an object.
not_a_string = st.one_of(st.lists(planted, min_size=1, max_size=2), st.dictionaries(planted, planted, min_size=1))
not_a_number = planted | st.lists(planted, min_size=1, max_size=2)
not_a_list = planted | st.dictionaries(planted, planted, min_size=1, max_size=2)
not_an_object = planted | st.lists(planted, min_size=1, max_size=2)


def container(name: str, value: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"deploy:{value}@{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:1",
        "environment": [{"name": name, "value": value}],
        "secrets": [{"name": name, "valueFrom": value}],
        "command": ["--password=" + value],
        "dockerLabels": {value: value},
        "logConfiguration": {"logDriver": "splunk", "options": {value: value}},
    }


BREAKS = {
    "task definition": {
        "networkMode": not_a_string,
        "revision": not_a_number,
        "containerDefinitions": not_a_list,
        "volumes": not_a_list,
        "runtimePlatform": not_an_object,
    },
    "container": {
        "name": not_a_string,
        "environment": not_a_list,
        "portMappings": st.lists(st.fixed_dictionaries({"containerPort": not_a_number}), min_size=1, max_size=1),
        "logConfiguration": st.fixed_dictionaries({"logDriver": not_a_string, "options": junk}),
        "dockerLabels": not_an_object.filter(lambda v: not isinstance(v, dict)),
    },
    "service": {"desiredCount": not_a_number, "launchType": not_a_string, "loadBalancers": not_a_list},
}


@st.composite
def broken_task_definition(draw: st.DrawFn) -> dict[str, Any]:
    value = draw(planted)
    document: dict[str, Any] = {
        "family": draw(st.sampled_from(["app", value])),
        "networkMode": "awsvpc",
        "containerDefinitions": [container(draw(st.sampled_from(["app", value])), value)],
    }
    if draw(st.booleans()):
        field = draw(st.sampled_from(sorted(BREAKS["task definition"])))
        document[field] = draw(BREAKS["task definition"][field])
    else:
        field = draw(st.sampled_from(sorted(BREAKS["container"])))
        document["containerDefinitions"][0][field] = draw(BREAKS["container"][field])
    return document


@st.composite
def broken_service(draw: st.DrawFn) -> dict[str, Any]:
    value = draw(planted)
    field = draw(st.sampled_from(sorted(BREAKS["service"])))
    return {"serviceName": "web", "taskDefinition": value, "clusterArn": value, field: draw(BREAKS["service"][field])}


@st.composite
def broken_event(draw: st.DrawFn) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventSource": "ecs.amazonaws.com",
        "eventName": "RegisterTaskDefinition",
        "awsRegion": "us-east-1",
        "userIdentity": {"arn": draw(planted)},
        "requestParameters": {"family": "app"},
        "responseElements": {"taskDefinition": draw(broken_task_definition()) | {"taskDefinitionArn": GOOD_ARN + "0"}},
    }
    event = {"id": "e-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ecs"}
    event |= {"account": ACCOUNT, "region": "us-east-1", "detail": detail}
    how = draw(st.sampled_from(["detail", "eventName", "response"]))
    if how == "detail":
        event["detail"] = draw(st.lists(planted, min_size=1, max_size=2))
    elif how == "eventName":
        detail["eventName"] = draw(not_a_string)
    return event


documents = st.one_of(
    broken_task_definition(),
    broken_task_definition().map(lambda document: {"taskDefinition": document}),
    broken_service(),
    broken_event(),
    st.dictionaries(planted, junk, min_size=1, max_size=3),  # not an ECS shape
    st.lists(scalars, min_size=1, max_size=3),  # a list of things that are not documents
)
broken_yaml = st.sampled_from(["value: !{p} x\n", "value: *{p}\n", "a: [{p}\n", "{p}: &{p}\n  - x\n b: c\n"]).map(
    lambda text: text.format(p=PLANTED)
)


def scan(folder: Path, fmt: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["scan", "--format", fmt, str(folder)])
    return status, out.getvalue(), err.getvalue()


def check_scan(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "good.json").write_text(json.dumps(GOOD), encoding="utf-8")
        (folder / name).write_bytes(content)
        for fmt in ("json", "text"):
            status, out, err = scan(folder, fmt)

            assert PLANTED not in out + err, f"the planted value reached the {fmt} output"
            assert status == 2, (status, err)
            assert f"{folder / name}: " in err
            if fmt == "json":
                document = json.loads(out)
                assert GOOD_ARN in {r["resource"]["id"] for r in document["results"]}
                assert any(e.startswith(f"{folder / name}: ") for e in document["summary"]["input_errors"])


@SETTINGS
@given(documents)
def test_scan_malformed_json_leaks_nothing_exits_2_naming_it_and_scans_the_rest(document: Any) -> None:
    check_scan("broken.json", json.dumps(document).encode())


@SETTINGS
@given(documents)
def test_scan_malformed_yaml_document_leaks_nothing_exits_2_naming_it_and_scans_the_rest(document: Any) -> None:
    import yaml

    check_scan("broken.yaml", yaml.safe_dump(document, allow_unicode=True).encode())


@SETTINGS
@given(broken_yaml)
def test_scan_unparseable_yaml_leaks_nothing_exits_2_naming_it_and_scans_the_rest(text: str) -> None:
    check_scan("broken.yaml", text.encode())
