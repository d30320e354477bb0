"""The Lambda service for moto's Step Functions, as the state machine of template.yaml calls it.

moto runs a state machine's definition itself (its ASL interpreter, with ``execute_state_machine`` on) and calls
Lambda's Invoke API for each ``lambda:invoke`` task, over HTTP, on the port ``MOTO_PORT`` names. moto's own Lambda
would need Docker; this server answers Invoke instead, by running the function's handler (the ``Handler`` of the
function in template.yaml) in this process with the function's ``ECSGUARD_*`` environment (template.yaml's, with
its parameters) and a Lambda context. Like Lambda's Python runtime, an exception becomes a 200 answer with
``X-Amz-Function-Error: Unhandled`` and ``{"errorMessage", "errorType"}``, so the definition's Retry and Catch see
it as they would on AWS. One invocation runs at a time, as in one container.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cfnlint.decode import decode

from ecsguard.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


def load_template() -> dict[str, Any]:
    template, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return dict(template)


def _stack_name_of(value: Any, stack: str) -> str:
    """A FunctionName as the stack gives it: ``!Sub "${AWS::StackName}-sweep"``."""
    text = value["Fn::Sub"] if isinstance(value, Mapping) else value
    return str(text).replace("${AWS::StackName}", stack)


@dataclass
class Invocation:
    function: str  # the logical id in template.yaml
    payload: Any
    answer: Any
    error: str | None


@dataclass
class Function:
    logical_id: str
    name: str
    handler: Callable[[Any, Any], Any]
    module: Any
    settings: Settings
    timeout: int


@dataclass
class EmulatedLambda:
    """Functions of template.yaml, served over HTTP as Lambda's Invoke API."""

    account: str
    region: str
    stack: str = "ecsguard"
    functions: dict[str, Function] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.functions[logical_id].name}"

    def add(
        self,
        template: Mapping[str, Any],
        logical_id: str,
        parameters: Mapping[str, str],
        references: Mapping[str, str],
        **overrides: str,
    ) -> Function:
        """Serve ``logical_id`` of ``template``: its handler, with its ECSGUARD_* environment resolved from
        ``parameters`` (template parameter values, defaults otherwise) and ``references`` (what a ``Ref`` to a
        resource stands for here), then ``overrides`` (ECSGUARD_ names without the prefix)."""
        properties = template["Resources"][logical_id]["Properties"]
        shared = template["Globals"]["Function"]
        variables = {**shared["Environment"]["Variables"], **properties.get("Environment", {}).get("Variables", {})}
        defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
        values = {**defaults, **parameters}

        def resolved(value: Any) -> str:
            if isinstance(value, Mapping) and "Ref" in value:
                name = str(value["Ref"])
                return values[name] if name in values else references[name]
            return str(value)

        environment = {name: resolved(value) for name, value in variables.items() if name.startswith(PREFIX)}
        environment.update({f"{PREFIX}{name.upper()}": value for name, value in overrides.items()})
        module_name, _, attribute = str(properties["Handler"]).rpartition(".")
        module = importlib.import_module(module_name)
        function = Function(
            logical_id,
            _stack_name_of(properties["FunctionName"], self.stack),
            getattr(module, attribute),
            module,
            Settings.from_environment(environment),
            int(properties.get("Timeout") or shared.get("Timeout") or 3),
        )
        self.functions[logical_id] = function
        return function

    def _function_of(self, path: str) -> Function:
        # /2015-03-31/functions/{FunctionName}/invocations, the name or ARN URL-encoded
        name = unquote(path.split("/functions/", 1)[1].split("/invocations", 1)[0]).rsplit(":", 1)[-1]
        for function in self.functions.values():
            if function.name == name:
                return function
        raise KeyError(name)

    def invoke(self, path: str, payload: Any) -> tuple[Any, str | None]:
        function = self._function_of(path)
        started = time.monotonic()

        class Context:
            invoked_function_arn = self.arn(function.logical_id)
            function_name = function.name
            memory_limit_in_mb = 512
            aws_request_id = "emulated"

            @staticmethod
            def get_remaining_time_in_millis() -> int:
                return int((function.timeout - (time.monotonic() - started)) * 1000)

        with self._lock:
            function.module.SETTINGS = function.settings
            cached = getattr(function.module, "organization", None)
            if cached is not None and hasattr(cached, "cache_clear"):
                cached.cache_clear()
            try:
                answer, error = function.handler(payload, Context()), None
            except Exception as raised:  # noqa: BLE001 - Lambda's runtime answers any exception this way
                answer, error = {"errorMessage": str(raised), "errorType": type(raised).__name__}, "Unhandled"
            self.invocations.append(Invocation(function.logical_id, payload, answer, error))
        return answer, error

    def of(self, logical_id: str) -> list[Invocation]:
        return [invocation for invocation in self.invocations if invocation.function == logical_id]

    # --- the HTTP side ---------------------------------------------------------------------

    def start(self) -> int:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    answer, error = emulator.invoke(self.path, json.loads(body or b"{}"))
                except KeyError:
                    self._send(404, {"Type": "User", "message": "Function not found"}, None)
                    return
                self._send(200, answer, error)

            def _send(self, status: int, answer: Any, error: str | None) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Amz-Executed-Version", "$LATEST")
                if error is not None:
                    self.send_header("X-Amz-Function-Error", error)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def running(emulator: EmulatedLambda) -> Iterator[int]:
    port = emulator.start()
    try:
        yield port
    finally:
        emulator.stop()
