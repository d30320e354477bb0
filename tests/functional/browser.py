"""A real headless Chromium for tests, driven over the DevTools protocol through a pipe: stdlib only.

``--remote-debugging-pipe`` makes Chromium read commands from its fd 3 and write replies and events to its fd 4,
each a JSON message ended by a NUL byte. A pipe, not a port: nothing listens on the network, and no other
process can attach. The browser starts with everything that phones home switched off and a fresh profile, so the
only requests it makes are the ones the page asks for, which the tests record through the Network domain.

Also here: a PNG decoder (zlib and struct), so a test can look at the pixels of a screenshot without a new
dependency.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
TIMEOUT = 30.0


class BrowserError(RuntimeError):
    pass


class Browser:
    """One Chromium process. ``open_page`` attaches to a new tab; commands and events go through the pipe."""

    def __init__(self, user_data_dir: Path, window: tuple[int, int] = (1280, 900)) -> None:
        commands_read, self._commands = os.pipe()  # we write, Chromium reads as its fd 3
        self._replies, replies_write = os.pipe()  # Chromium writes as its fd 4, we read
        # Above 4, so that the redirections below never close what they have just put at 3 or 4.
        commands_read, replies_write = _above_four(commands_read), _above_four(replies_write)
        self._log = (user_data_dir.parent / f"{user_data_dir.name}-chromium.log").open("wb")
        arguments = [*FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={window[0]},{window[1]}"]
        # Popen keeps passed fds at their own numbers; bash's redirections put them at 3 and 4, where Chromium looks
        # (dash takes no fd above 9; preexec_fn could dup2 them, but is unsafe with threads, as moto's server runs).
        script = f'exec "$0" "$@" 3<&{commands_read} 4>&{replies_write} {commands_read}<&- {replies_write}>&-'
        try:
            self._process = subprocess.Popen(
                ["/bin/bash", "-c", script, str(CHROMIUM), *arguments, "about:blank"],
                pass_fds=(commands_read, replies_write),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
            )
        finally:
            os.close(commands_read)
            os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.send("Browser.getVersion")  # the pipe answers: the browser is up

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are kept in ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, session: str | None = None) -> dict[str, Any]:
        """The first event ``method`` (of ``session``) not yet waited for, reading until it comes."""
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    del self.events[index]
                    return event
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._replies], [], [], max(remaining, 0))
            if not ready:
                raise BrowserError(f"no message from Chromium in {TIMEOUT:.0f}s (log: {self._log.name})")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe, exit status {self._process.poll()}: {self._log.name}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        loaded: dict[str, Any] = json.loads(message)
        return loaded

    def open_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session)

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):  # it is stopped below either way
            self.send("Browser.close")
        try:
            self._process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._replies)
        self._log.close()


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


@dataclass
class Page:
    """A tab, with every network request it makes recorded from before its first navigation."""

    browser: Browser
    target: str
    session: str

    def __post_init__(self) -> None:
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def navigate(self, url: str) -> None:
        navigated = self.send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools runs it even where the page runs none)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def events(self, method: str) -> list[dict[str, Any]]:
        """The params of every event ``method`` the page sent so far."""
        self.send("Runtime.evaluate", {"expression": "0"})  # a round trip: what came before it has been read
        return [
            event["params"]
            for event in self.browser.events
            if event.get("method") == method and event.get("sessionId") == self.session
        ]

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """A PNG of the whole page (beyond the window), or of ``clip`` (x, y, width, height in CSS pixels)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


def start_browser(user_data_dir: Path) -> Browser:
    if not CHROMIUM.is_file():
        raise BrowserError(f"{CHROMIUM} is not installed (make browser installs it)")
    return Browser(user_data_dir)


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGB or RGBA, 8 bits a channel
    channels: int

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        start = x * self.channels
        red, green, blue = self.rows[y][start : start + 3]
        return red, green, blue

    def count(self, colour: tuple[int, int, int]) -> int:
        """How many pixels are exactly ``colour`` (the inside of a filled shape is, whatever its edges are)."""
        return sum(1 for y in range(self.height) for x in range(self.width) if self.pixel(x, y) == colour)


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def read_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, channels and the (still filtered) image data of an 8-bit, non-interlaced RGB or RGBA PNG,
    what Chromium writes: every chunk's CRC checked, the data decompressed and its size checked."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG: wrong signature")
    position, header, compressed, ended = 8, b"", bytearray(), False
    while position < len(data) and not ended:
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r} has a bad CRC")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        ended = kind == b"IEND"
        position += 12 + length
    if not ended or not header:
        raise ValueError("PNG is truncated: no IHDR or IEND")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(compressed))
    if len(raw) != height * (width * channels + 1):
        raise ValueError("PNG image data has the wrong size")
    return width, height, channels, raw


def decode_png(data: bytes) -> Image:
    """The pixels of a PNG that ``read_png`` reads (pure Python: for a small clip, not a whole page)."""
    width, height, channels, raw = read_png(data)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            elif kind != 0:
                raise ValueError(f"PNG row {y} has unknown filter {kind}")
        rows.append(bytes(line))
        previous = line
    return Image(width, height, rows, channels)
