"""Issue 12, finding 5: connections that do not send a request in time are closed by ``hexgate serve``.

Before the fix a client sending one header line every 2 s kept its connection for as long as it
went on (uvicorn has no header-read timeout), and so did a connection that never sent a byte.
Now a request head must be complete within ``[server] header_timeout`` seconds of the connection's
start or of its previous answer, and an idle keep-alive connection is closed after
``[server] keepalive_timeout`` seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 3
KEEPALIVE = 2
CONFIG = f"""
[server]
header_timeout = {HEADER_TIMEOUT}
keepalive_timeout = {KEEPALIVE}

[providers.echo]
plugin = "echo"
"""


@pytest.fixture(scope="module")
def address() -> Iterator[tuple[str, int]]:
    with running_gateway(CONFIG) as base:
        host, _, port = base.removeprefix("http://").rpartition(":")
        yield host, int(port)


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (EOF or reset), or None if it is still open after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_head_sent_one_line_every_2_s_is_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
        closed = None
        try:
            for n in range(15):  # 30 s of headers if nothing stops it
                if _closed_within(sock, 2) is not None:  # waits 2 s, unless the server closes first
                    closed = time.monotonic() - started
                    break
                sock.sendall(f"X-Slow-{n}: a\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = time.monotonic() - started
    assert closed is not None, "the connection was still open after 30 s of trickled headers"
    assert closed < HEADER_TIMEOUT + 1, f"closed after {closed:.1f} s"


def _first_answer(sock: socket.socket) -> bytes:
    """Send one ``GET /health`` on ``sock`` and read up to the end of the answer's head."""
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
    sock.settimeout(10)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    return answer


def test_a_connection_that_sends_nothing_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        closed = _closed_within(sock, HEADER_TIMEOUT + 5)
    assert closed is not None, "a silent connection was kept"
    assert closed < HEADER_TIMEOUT + 1


def test_an_idle_keep_alive_connection_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        answer = _first_answer(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        closed = _closed_within(sock, KEEPALIVE + 5)
    assert closed is not None, "an idle keep-alive connection was kept"
    assert closed < KEEPALIVE + 1


def test_a_keep_alive_connection_trickling_its_next_head_is_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        assert _first_answer(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        closed = None
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            for n in range(15):  # each byte comes before the keep-alive timer (2 s) runs out
                if _closed_within(sock, 1) is not None:
                    closed = time.monotonic() - started
                    break
                sock.sendall(f"X-Slow-{n}: a\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            closed = time.monotonic() - started
    assert closed is not None, "the next request's head trickled in for 15 s"
    assert closed < HEADER_TIMEOUT + 1
