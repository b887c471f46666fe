"""A scripted HTTP/1.1 upstream on 127.0.0.1 in a thread: :class:`StubUpstream`, the
:class:`RecordedRequest` it records and the :class:`Reply` it answers with."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Handler", "RecordedRequest", "Reply", "StubUpstream"]


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
    ``completed`` counts streamed answers sent to the end; ``connections`` counts the connections
    accepted and ``open_connections`` those open now.
    """

    def __init__(self, routes: Mapping[str, Reply | Handler] | None = None) -> None:
        self.routes: dict[str, Reply | Handler] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.completed = 0
        self.open_connections = 0
        self.connections = 0
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
                    stub.connections += 1

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
