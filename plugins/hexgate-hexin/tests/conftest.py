"""A local stand-in for the Hexin backend (upstreams.md §7, after ``hexin-server`` 0.1.23), on a
:class:`~hexgate.testing.StubUpstream`:

    POST /auth                                             {"app_id","app_secret"} → {"data":{"user_id","token",...}}
    POST /vtuber/ai_access/<symbol>/<version>/chat/completions   headers userId/token; OpenAI chat body
    POST /vtuber/ai_access/chatgpt/v1/embeddings           form-urlencoded input + model
    POST /responses                                        OpenAI Responses body; SSE when streamed

A call with a token the backend does not know (never issued, or revoked) is refused the way
``refusal`` says: HTTP 401, or HTTP 200 with ``{"success": false, "status_code": 401, ...}``.
Tests script the chat / responses answers through ``chat`` and ``responses``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, replay_frames

FIXTURES = Path(__file__).parent / "fixtures"
APP_ID = "app-test-000"
APP_SECRET = "secret-test-000"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def capture_lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / f"{name}.chunks.txt").read_text().splitlines() if line.strip()]


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class HexinBackend:
    """State of the stand-in backend; ``stub.url`` is its base."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.expires_in: float | None = 600.0
        self.refusal = "http"
        self.chat: Callable[[RecordedRequest], Reply] = lambda _: Reply(body=body(self.completion("hi")))
        self.responses: Callable[[RecordedRequest], Reply] = lambda _: Reply(
            body=replay_frames(capture_lines("openai--responses--reasoning-summary-stream"), style="event"),
            headers=SSE,
        )
        self.embedding_answer: Callable[[str, int], Any] = lambda text, i: {
            "data": {
                "data": [{"embedding": self.vector(text), "index": 0}],
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
        }
        self.stub = StubUpstream(
            {
                "POST /auth": self._auth,
                "POST /responses": self._guard(lambda q: self.responses(q)),
                "POST /vtuber/ai_access/chatgpt/v1/embeddings": self._guard(self._embed),
                "POST *": self._guard(lambda q: self.chat(q)),
            }
        )

    # -- helpers for tests

    def revoke(self) -> None:
        with self.lock:
            self.valid.clear()

    def calls(self, path: str) -> list[RecordedRequest]:
        return [q for q in self.stub.requests if q.path == path]

    @staticmethod
    def vector(text: str) -> list[float]:
        return [float(len(text)), 0.5, -0.25]

    @staticmethod
    def completion(text: str | None, **message: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-hexin-1",
            "object": "chat.completion",
            "created": 1760000000,
            "model": "gpt-4o",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text, **message}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }

    @staticmethod
    def chat_frames(*deltas: dict[str, Any], finish: str = "stop") -> list[bytes]:
        base = {"id": "chatcmpl-hexin-2", "object": "chat.completion.chunk", "created": 1760000000, "model": "gpt-4o"}
        chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})
        return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]

    def settings(self, **extra: Any) -> dict[str, Any]:
        """A provider table pointing at this backend."""
        return {
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "app_url": f"{self.stub.url}/auth",
            "base_url": f"{self.stub.url}/vtuber/ai_access",
            "response_url": f"{self.stub.url}/responses",
            **extra,
        }

    # -- routes

    def _auth(self, request: RecordedRequest) -> Reply:
        sent = request.json()
        if sent != {"app_id": APP_ID, "app_secret": APP_SECRET}:
            return Reply(
                body=body({"success": False, "status_code": 401, "status_msg": "app_id or app_secret is wrong"})
            )
        with self.lock:
            token = f"tok-{len(self.issued) + 1}"
            self.issued.append(token)
            self.valid.add(token)
        data: dict[str, Any] = {"user_id": 4242, "token": token}
        if self.expires_in is not None:
            data["expires_in"] = self.expires_in
        return Reply(body=body({"success": True, "data": data}))

    def _guard(self, route: Callable[[RecordedRequest], Reply]) -> Callable[[RecordedRequest], Reply]:
        def guarded(request: RecordedRequest) -> Reply:
            with self.lock:
                ok = request.headers.get("token") in self.valid and request.headers.get("userid") == "4242"
            if not ok:
                if self.refusal == "http":
                    return Reply(401, body({"error": {"type": "authentication_error", "message": "token invalid"}}))
                return Reply(body=body({"success": False, "status_code": 401, "status_msg": "token expired"}))
            return route(request)

        return guarded

    def _embed(self, request: RecordedRequest) -> Reply:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = urllib.parse.parse_qs(request.body.decode())
        text = form["input"][0]
        return Reply(body=body(self.embedding_answer(text, len(self.calls(request.path)))))


@pytest.fixture
def backend() -> Iterator[HexinBackend]:
    backend = HexinBackend()
    with backend.stub:
        yield backend


@pytest.fixture(scope="module")
def module_backend() -> Iterator[HexinBackend]:
    """One backend for a module's tests (a gateway started once talks to it)."""
    backend = HexinBackend()
    with backend.stub:
        yield backend
