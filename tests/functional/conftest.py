"""AWS emulated by moto in server mode on 127.0.0.1, so tests exercise real HTTP, botocore retries and
serialisation. One server per test session; its state is reset before every test that uses it.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from emulated_aws import REGION, Aws, emulate_batch_update_findings
from fault_proxy import FaultProxy
from moto.server import ThreadedMotoServer

from ecsguard.adapters import aws as aws_adapter
from ecsguard.handlers import scanner as scanner_handler
from ecsguard.settings import Settings
from policy_catalog import POLICY_DIR


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    emulate_batch_update_findings()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Aws:
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws_adapter.client.cache_clear()
    session = boto3.session.Session(region_name=REGION)
    sns, sqs = session.client("sns"), session.client("sqs")
    topic_arn = sns.create_topic(Name="ecsguard-findings")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ecsguard-findings-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    securityhub = session.client("securityhub")
    securityhub.enable_security_hub()
    return Aws(moto_endpoint, session.client("ecs"), sns, sqs, securityhub, topic_arn, queue_url)


@pytest.fixture
def policy_dir() -> Path:
    """The policy folder the handler under test loads (ECSGUARD_POLICY_DIR): the whole catalog, policies/.

    A module whose expectations are about the sample events' policies overrides this fixture with
    ``policy_catalog.narrowed_policy_dir()``, so a policy added to policies/ changes nothing it checks."""
    return POLICY_DIR


@pytest.fixture
def configure(aws: Aws, policy_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point the Lambda handler at the emulated account with these ECSGUARD_* settings (topic included), and at
    the ``policy_dir`` policies, every pack of them."""

    def apply(**settings: str) -> None:
        environment = {
            "ECSGUARD_TOPIC_ARN": aws.topic_arn,
            "ECSGUARD_AWS_MAX_ATTEMPTS": "2",
            "ECSGUARD_POLICY_DIR": str(policy_dir),
            # Every pack of the folder: expectations derive from the catalog, not from a deployment's default.
            "ECSGUARD_PACKS": "all",
        }
        environment.update({f"ECSGUARD_{name.upper()}": value for name, value in settings.items()})
        monkeypatch.setattr(scanner_handler, "SETTINGS", Settings.from_environment(environment))
        scanner_handler.scanner.cache_clear()

    apply()
    return apply


@pytest.fixture
def proxy(aws: Aws, configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The scanner's AWS clients go through a fault proxy in front of moto; the test's own clients do not."""
    with FaultProxy(aws.endpoint) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
        aws_adapter.client.cache_clear()
        configure()
        yield fault_proxy
    # The cached clients and scanner point at the proxy that just stopped.
    aws_adapter.client.cache_clear()
    scanner_handler.scanner.cache_clear()
