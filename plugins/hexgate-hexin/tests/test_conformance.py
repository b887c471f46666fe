"""hexgate-hexin through the conformance suite (:mod:`hexgate.testing.conformance`), against the
stand-in backend of ``conftest.HexinBackend`` (token auth, OpenAI-shaped chat, form-encoded embeddings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hexgate.testing import Reply
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}
TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
TYPES |= {429: "rate_limit_error", 500: "server_error", 503: "server_error"}


def error(status: int, secret: str) -> Reply:
    message = f"bad credentials {secret}" if status in (401, 403) else f"backend says {status}"
    body = {"error": {"type": TYPES[status], "message": message}}
    return Reply(status, json.dumps(body).encode(), headers={**JSON, "retry-after": "1"})


@pytest.fixture(scope="module")
def hexgate_target(module_backend: Any) -> Target:
    backend = module_backend
    stub = backend.stub
    secret = backend.settings()["app_secret"]

    def arrange(feature: str) -> Scenario:
        stub.requests.clear()
        stub.completed = stub.disconnects = 0

        def chat(reply_json: Any, frames: list[bytes]) -> None:
            backend.chat = lambda q: (
                Reply(200, frames, headers=SSE)
                if q.json().get("stream")
                else Reply(200, json.dumps(reply_json).encode())
            )

        if feature in ("chat", "stream"):
            chat(
                backend.completion("Hello there"),
                backend.chat_frames({"role": "assistant", "content": "Hello"}, {"content": " there"}),
            )
            return Scenario(text="Hello there")
        if feature == "tool_calls":
            call = {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            frames = backend.chat_frames(
                {"role": "assistant", "tool_calls": [call]},
                {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]},
                finish="tool_calls",
            )
            chat(backend.completion(None), frames)
        elif feature == "reasoning":
            whole = backend.completion("3", reasoning_content="Count the rs.")
            chat(
                whole,
                backend.chat_frames({"role": "assistant", "reasoning_content": "Count the rs."}, {"content": "3"}),
            )
        elif feature in ("embeddings", "models"):
            pass
        elif feature.startswith("error_") and feature[6:].isdigit():
            reply = error(int(feature[6:]), secret)
            backend.chat = lambda q: reply
        elif feature == "timeout":
            backend.chat = lambda q: Reply(200, b"{}", stall=10)
        elif feature == "error_in_200":
            backend.chat = lambda q: Reply(200, b'{"error": {"message": "overloaded", "type": "server_error"}}')
        elif feature == "midstream_error":
            failure = b'data: {"error": {"message": "the model crashed", "type": "server_error"}}\n\n'
            frames = [*backend.chat_frames({"role": "assistant", "content": "Hi"})[:1], failure]
            backend.chat = lambda q: Reply(200, frames, headers=SSE)
        elif feature == "cancellation":
            frames = backend.chat_frames(
                {"role": "assistant", "content": ""}, *({"content": f" w{i}"} for i in range(200))
            )
            backend.chat = lambda q: Reply(200, frames, headers=SSE, delay=0.1)
            return Scenario(cancelled=lambda: stub.disconnects > 0)
        else:
            return unsupported(f"no {feature} in the Hexin backend")
        return Scenario()

    return Target(
        name="hexin", factory="hexin", settings=backend.settings(), model="gpt-4o", arrange=arrange, secret=secret
    )


class TestConformance(Conformance):
    pass
