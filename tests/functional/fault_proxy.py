"""A small HTTP proxy in front of moto's server that injects AWS-shaped faults, for the fault tests.

The scanner's boto3 clients talk to the proxy (AWS_ENDPOINT_URL) over real HTTP, so botocore's
serialisation, error parsing and standard-mode retries run exactly as against AWS; nothing in
botocore is mocked. Each request is identified as ``service:Operation`` the way AWS routes it
(the SigV4 credential scope names the service; then X-Amz-Target for the JSON protocols, the
Action form field for the query protocol, or the method and path for REST-JSON) and recorded.
Rules, consulted in the order they were added, then either answer an error instead of moto or
rewrite a Security Hub BatchImportFindings exchange; everything else is forwarded verbatim.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import botocore.session

BATCH_IMPORT_FINDINGS = "securityhub:BatchImportFindings"
# Headers that describe one connection, not the message (RFC 9110, section 7.6.1).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"}
)
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
UPSTREAM_TIMEOUT = 10.0  # seconds; moto answers in milliseconds
IDLE_CONNECTION_TIMEOUT = 30.0  # seconds a client connection may stay idle between requests


@dataclass(frozen=True)
class Call:
    """One request the proxy received, as the client sent it, and the status the client got."""

    operation: str
    method: str
    path: str
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def finding_ids(self) -> list[str]:
        """The Ids a BatchImportFindings request carried, in order."""
        return [finding["Id"] for finding in self.json()["Findings"]]


@dataclass
class _Rule:
    operation: str
    times: int | None  # None: every matching request

    def take(self, operation: str) -> bool:
        """Whether the rule applies to this request; uses one of its turns when it does."""
        if operation != self.operation or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _ErrorRule(_Rule):
    status: int = 500
    code: str = "InternalFailure"
    message: str = ""


@dataclass
class _RejectFindingsRule(_Rule):
    ids: frozenset[str] = frozenset()
    error_code: str = "InvalidInput"
    error_message: str = ""


@dataclass
class _Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


@cache
def _service_model(service: str) -> Any:
    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - an unknown service is simply not identified
        return None


@cache
def _rest_routes(service: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(method, path pattern, operation) for each operation of a REST service, from botocore's model."""
    model = _service_model(service)
    routes = []
    for name in model.operation_names if model is not None else ():
        http_binding = model.operation_model(name).http
        template = http_binding["requestUri"].split("?", 1)[0]
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{[A-Za-z0-9_]+\\\+\\\}", ".+", pattern)
        pattern = re.sub(r"\\\{[A-Za-z0-9_]+\\\}", "[^/]+", pattern)
        routes.append((http_binding["method"], re.compile(pattern), name))
    # The most literal template first, so /findings/import never matches a /findings/{Id} route.
    routes.sort(key=lambda route: -len(route[1].pattern.replace("[^/]+", "").replace(".+", "")))
    return tuple(routes)


def identify(method: str, path: str, headers: Any, body: bytes) -> str:
    """``service:Operation`` for a SigV4-signed AWS request, or ``service:?`` when it cannot be told."""
    scope = _SCOPE.search(headers.get("Authorization", ""))
    service = scope.group(1) if scope else "unknown"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return f"{service}:{action[0]}"
    route = urlsplit(path).path
    for route_method, pattern, name in _rest_routes(service):
        if route_method == method and pattern.fullmatch(route):
            return f"{service}:{name}"
    return f"{service}:?"


def error_response(operation: str, status: int, code: str, message: str) -> _Response:
    """An error as the service's protocol carries it, so botocore parses code and message as from AWS."""
    service = operation.split(":", 1)[0]
    model = _service_model(service)
    protocol = model.protocol if model is not None else "json"
    request_id = str(uuid.uuid4())
    if protocol in ("query", "rest-xml", "ec2"):
        namespace = model.metadata.get("xmlNamespace", "") if model is not None else ""
        party = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{escape(namespace)}"><Error><Type>{party}</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        return _Response(status, "Error", headers, body.encode())
    # awsJson reads __type from the body, restJson the x-amzn-ErrorType header; AWS sends both forms.
    content_type = "application/json" if protocol == "rest-json" else "application/x-amz-json-1.1"
    headers = [("Content-Type", content_type), ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)]
    return _Response(status, "Error", headers, json.dumps({"__type": code, "message": message}).encode())


class FaultProxy:
    """Forwards to ``upstream`` (moto) and injects the faults its rules describe; use as a context manager."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._calls: list[Call] = []
        self._connections: set[socket.socket] = set()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting, end open keep-alive connections and wait for their threads."""
        if self._thread.is_alive():
            self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the request threads (block_on_close)
        self._thread.join(timeout=5)

    # --- rules ---------------------------------------------------------------------------------

    def fail(self, operation: str, *, status: int, code: str, message: str, times: int | None = None) -> None:
        """Answer the next ``times`` requests for ``operation`` (all when None) with this AWS error."""
        with self._lock:
            self._rules.append(_ErrorRule(operation, times, status, code, message))

    def reject_findings(
        self,
        ids: Collection[str],
        *,
        times: int | None = None,
        error_code: str = "InvalidInput",
        error_message: str = "Finding does not adhere to Amazon Security Finding Format.",
    ) -> None:
        """For the next ``times`` BatchImportFindings calls (all when None), Security Hub rejects these Ids.

        As in AWS, a rejected finding is not imported: it is removed from the request moto sees and
        reported in FailedFindings, with FailedCount and SuccessCount to match.
        """
        with self._lock:
            self._rules.append(
                _RejectFindingsRule(BATCH_IMPORT_FINDINGS, times, frozenset(ids), error_code, error_message)
            )

    # --- what was seen -------------------------------------------------------------------------

    def calls(self, operation: str | None = None) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if operation is None or call.operation == operation]

    def counts(self) -> dict[str, int]:
        """Requests received per ``service:Operation``."""
        counted: dict[str, int] = {}
        for call in self.calls():
            counted[call.operation] = counted.get(call.operation, 0) + 1
        return counted

    # --- the work ------------------------------------------------------------------------------

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _answer(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        operation = identify(method, path, headers, body)
        with self._lock:
            rule = next((rule for rule in self._rules if rule.take(operation)), None)
        if isinstance(rule, _ErrorRule):
            response = error_response(operation, rule.status, rule.code, rule.message)
        elif isinstance(rule, _RejectFindingsRule):
            response = self._reject(rule, method, path, headers, body)
        else:
            response = self._forward(method, path, headers, body)
        with self._lock:
            self._calls.append(Call(operation, method, path, body, response.status))
        return response

    def _reject(self, rule: _RejectFindingsRule, method: str, path: str, headers: Any, body: bytes) -> _Response:
        request = json.loads(body)
        findings = request["Findings"]
        rejected = [finding for finding in findings if finding["Id"] in rule.ids]
        kept = [finding for finding in findings if finding["Id"] not in rule.ids]
        answer: dict[str, Any] = {"FailedCount": 0, "SuccessCount": 0, "FailedFindings": []}
        response = _Response(200, "OK", [("Content-Type", "application/json")])
        if kept:
            response = self._forward(method, path, headers, json.dumps({**request, "Findings": kept}).encode())
            if response.status != 200:
                return response
            answer = json.loads(response.body)
        answer["FailedCount"] = answer.get("FailedCount", 0) + len(rejected)
        answer["FailedFindings"] = [
            *(answer.get("FailedFindings") or []),
            *({"Id": f["Id"], "ErrorCode": rule.error_code, "ErrorMessage": rule.error_message} for f in rejected),
        ]
        response.body = json.dumps(answer).encode()
        return response

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        outgoing = {
            name: value
            for name, value in headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        }
        outgoing["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(*self._upstream, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.request(method, path, body=body, headers=outgoing)
            answer = upstream.getresponse()
            content = answer.read()
            kept = [
                (name, value)
                for name, value in answer.getheaders()
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("content-length", "transfer-encoding")
            ]
            return _Response(answer.status, answer.reason, kept, content)
        except OSError as error:
            message = f"fault proxy could not reach {self._upstream}: {error}"
            return _Response(502, "Bad Gateway", [("Content-Type", "text/plain")], message.encode())
        finally:
            upstream.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for them; stop() ends their connections first
    block_on_close = True
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    timeout = IDLE_CONNECTION_TIMEOUT
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._track(self.connection, open_=False)

    def _relay(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(501, "the fault proxy does not read chunked request bodies")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        response = self.server.proxy._answer(self.command, self.path, self.headers, body)
        self.send_response(response.status, response.reason)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the recorded calls instead."""
