"""Helpers for testing hexgate and its plugins against real processes on 127.0.0.1.

- :func:`running_gateway`: ``hexgate serve`` as a subprocess with a given config, yielding its base URL.
- :func:`running_process`: any server as a subprocess, once a URL of it answers 200 (what
  :func:`running_gateway` uses; also for third-party servers a test puts behind the gateway).
- :class:`StubUpstream`: a scripted HTTP upstream in a thread that records every request and
  notices when a client goes away mid-answer; replies can stream chunks with pauses.
- :func:`replay_frames`: turn a recorded capture (``../shared/fixtures`` formats) back into SSE frames.
- :func:`check_stream`: the invariants every chat stream must keep, for plugin conformance tests.

Plugin authors use these from their own tests; nothing here is imported by the gateway itself.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "RecordedRequest",
    "Reply",
    "StubUpstream",
    "check_stream",
    "free_port",
    "replay_frames",
    "running_gateway",
    "running_process",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_process(
    cmd: Sequence[str],
    *,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    name: str | None = None,
    log: Path | None = None,
    stop_timeout: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` and wait until ``GET ready_url`` answers 200; yields the process.

    ``env`` is the process's whole environment (None: this process's). Its stdout and stderr go to
    ``log`` (None: a temporary file). Raises RuntimeError with that output, naming the process
    ``name`` (default ``cmd[0]``), if it exits or is not ready within ``timeout`` seconds. On exit the
    process is terminated, and killed if it has not ended after ``stop_timeout`` seconds.
    """
    label = name or cmd[0]
    with contextlib.ExitStack() as stack:
        path = log if log is not None else Path(stack.enter_context(tempfile.TemporaryDirectory())) / "output.log"
        with open(path, "wb") as out:
            proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env)

        def output() -> str:
            return path.read_text(errors="replace")

        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{label} exited with {proc.returncode}:\n{output()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(ready_url, timeout=2.0).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label} did not start in {timeout:g} s:\n{output()}")
                time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_gateway(
    config: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 120.0,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Start ``hexgate serve`` on a free port with ``config`` (TOML text; None: no config file).

    Yields the base URL (``http://127.0.0.1:<port>``; the OpenAI base URL is that + ``/v1``).
    ``env`` is added to this process's environment (``HEXGATE_CONFIG`` left out).
    Raises RuntimeError with the server's output if it does not become healthy in time.
    The process is terminated (then killed) on exit.
    """
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
        if config is not None:
            path = Path(tmp) / "config.toml"
            path.write_text(config, encoding="utf-8")
            cmd += ["--config", str(path)]
        full_env = {k: v for k, v in os.environ.items() if k != "HEXGATE_CONFIG"}
        full_env.update(env or {})
        base = f"http://127.0.0.1:{port}"
        with running_process(cmd, ready_url=f"{base}/health", env=full_env, timeout=startup_timeout, name="hexgate"):
            yield base


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """What the stub answers. ``body`` as bytes is sent with a Content-Length; as a sequence of
    byte chunks it is streamed (chunked encoding) with ``delay`` seconds before each chunk, and
    ``hang`` seconds of silence after the last one (to test idle timeouts and cancellation)."""

    status: int = 200
    body: bytes | Sequence[bytes] = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    delay: float = 0.0
    hang: float = 0.0
    reset: bool = False
    """Close the socket abruptly after the chunks (a connection reset mid-stream)."""
    stall: float = 0.0
    """Seconds of silence before the status line (an upstream that accepts and does not answer);
    ends early when the client closes the connection, which counts as a disconnect."""


Handler = Callable[[RecordedRequest], Reply]


class StubUpstream:
    """A scripted HTTP/1.1 upstream on 127.0.0.1, run in a thread.

    ``routes`` maps ``"METHOD /path"`` (exact path, query ignored; ``"POST *"`` matches any path) to a
    :class:`Reply` or a function of the :class:`RecordedRequest` returning one. Unknown routes get 404.
    ``requests`` lists what arrived; ``disconnects`` counts answers the client abandoned midway;
    ``completed`` counts streamed answers sent to the end.
    """

    def __init__(self, routes: Mapping[str, Reply | Handler] | None = None) -> None:
        self.routes: dict[str, Reply | Handler] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.completed = 0
        self.open_connections = 0
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "StubUpstream is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StubUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        stub = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with stub._lock:
                    stub.open_connections += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with stub._lock:
                        stub.open_connections -= 1

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                recorded = RecordedRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with stub._lock:
                    stub.requests.append(recorded)
                route = stub.routes.get(f"{self.command} {path}") or stub.routes.get(f"{self.command} *")
                if route is None:
                    reply = Reply(404, b'{"error":{"message":"no such route in the stub"}}')
                else:
                    reply = route(recorded) if callable(route) else route
                try:
                    self._send(reply)
                except (BrokenPipeError, ConnectionResetError):
                    with stub._lock:
                        stub.disconnects += 1

            def _send(self, reply: Reply) -> None:
                if reply.stall:
                    _wait_for_close(self.connection, reply.stall)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    return
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                for chunk in reply.body:
                    if reply.delay:
                        time.sleep(reply.delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                if reply.hang:
                    _wait_for_close(self.connection, reply.hang)
                    self.wfile.write(b"0\r\n\r\n")  # raises if the client left meanwhile
                    self.wfile.flush()
                if reply.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                if not reply.hang:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                with stub._lock:
                    stub.completed += 1

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget the routes, the recorded requests and the counters, for the next test of a shared stub."""
        with self._lock:
            self.routes.clear()
            self.requests.clear()
            self.completed = self.disconnects = 0

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()


def _wait_for_close(conn: socket.socket, seconds: float) -> None:
    """Sleep up to ``seconds``, returning early if the peer closes the connection."""
    deadline = time.monotonic() + seconds
    conn.settimeout(0.05)
    try:
        while time.monotonic() < deadline:
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    raise ConnectionResetError("client closed")
            except TimeoutError:
                continue
            except BlockingIOError:  # pragma: no cover
                time.sleep(0.05)
    finally:
        conn.settimeout(None)


def replay_frames(lines: Iterable[str], *, style: str, done: bool = False) -> list[bytes]:
    """Recorded payload lines (one JSON per line, ``*.chunks.txt``) back into SSE frames.

    ``style="event"``: ``event: <type>\\ndata: <line>\\n\\n`` (Anthropic, OpenAI Responses);
    ``style="data"``: ``data: <line>\\n\\n`` (OpenAI chat, DeepSeek, Gemini). ``done`` appends
    ``data: [DONE]``. Raw ``*.sse`` captures need no conversion: send their bytes as they are.
    """
    frames = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if style == "event":
            kind = json.loads(line).get("type", "message")
            frames.append(f"event: {kind}\ndata: {line}\n\n".encode())
        else:
            frames.append(f"data: {line}\n\n".encode())
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


def check_stream(chunks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems with a decoded chat stream (list of chunk dicts, ``[DONE]`` excluded), per
    ARCHITECTURE.md "Streaming rules": the first chunk has ``delta.role``; every chunk is a
    ``chat.completion.chunk`` with one id; each tool call's first delta carries ``index``, ``id``,
    ``type`` and ``function.name`` and later ones only ``index`` and ``function.arguments``;
    some choice ends with a ``finish_reason``. An empty list means the stream is well formed."""
    problems: list[str] = []
    if not chunks:
        return ["no chunks"]
    if chunks[0]["choices"] and "role" not in chunks[0]["choices"][0]["delta"]:
        problems.append("first chunk has no delta.role")
    ids = {c.get("id") for c in chunks}
    if len(ids) != 1:
        problems.append(f"chunk ids differ: {ids}")
    seen: set[tuple[int, int]] = set()
    finished = False
    for c in chunks:
        if c.get("object") != "chat.completion.chunk":
            problems.append(f"object is {c.get('object')!r}")
        for choice in c["choices"]:
            finished |= choice.get("finish_reason") is not None
            for call in choice["delta"].get("tool_calls") or []:
                key = (choice["index"], call["index"])
                if key not in seen:
                    seen.add(key)
                    if not (call.get("id") and call.get("type") == "function" and call["function"].get("name")):
                        problems.append(f"tool call {key} starts without id/type/name: {call}")
                elif set(call) - {"index", "function"} or set(call.get("function", {})) - {"arguments"}:
                    problems.append(f"tool call {key} continuation carries more than arguments: {call}")
    if not finished:
        problems.append("no choice has a finish_reason")
    return problems
