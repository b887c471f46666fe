"""hexgate-anthropic through the conformance suite (:mod:`hexgate.testing.conformance`): the real
``anthropic`` SDK inside the plugin, a :class:`~hexgate.testing.StubUpstream` replaying the captures
in ``fixtures/`` (and Anthropic's documented error shapes) for each feature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, replay_frames
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "sk-ant-conformance-0123456789"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
MESSAGES = "POST /v1/messages"
KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
KINDS |= {429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}


def replay(name: str) -> Any:
    """Answer with the capture ``name``: its stream when the request streams, else its JSON."""
    whole = (FIXTURES / f"{name}.json").read_bytes()
    frames = replay_frames((FIXTURES / f"{name}.chunks.txt").read_text().splitlines(), style="event")

    def answer(req: RecordedRequest) -> Reply:
        return Reply(200, frames, headers=SSE) if req.json().get("stream") else Reply(200, whole, headers=JSON)

    return answer


def event(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


def error(status: int) -> Reply:
    message = f"invalid x-api-key {SECRET}" if status == 401 else f"upstream says {status}"
    body = {"type": "error", "error": {"type": KINDS[status], "message": message}}
    return Reply(status, json.dumps(body).encode(), headers={**JSON, "retry-after": "1"})


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    },
}


def text_delta(text: str) -> bytes:
    return event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def hexgate_target(stub: StubUpstream) -> Target:
    def arrange(feature: str) -> Scenario:
        stub.reset()
        opening = [
            event(START),
            event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ]
        if feature in ("chat", "stream"):
            stub.routes[MESSAGES] = replay("anthropic--anthropic-text")
        elif feature == "tool_calls":
            stub.routes[MESSAGES] = replay("anthropic--anthropic-json-tool.1")
            name = json.loads((FIXTURES / "anthropic--anthropic-json-tool.1.json").read_text())["content"][-1]["name"]
            return Scenario(tool_name=name)
        elif feature == "reasoning":
            stub.routes[MESSAGES] = replay("anthropic--anthropic-clear-thinking.1")
        elif feature == "models":
            page = {
                "data": [
                    {
                        "type": "model",
                        "id": "claude-sonnet-4-5",
                        "display_name": "Claude Sonnet 4.5",
                        "created_at": "2025-09-29T00:00:00Z",
                    }
                ],
                "has_more": False,
                "first_id": "claude-sonnet-4-5",
                "last_id": "claude-sonnet-4-5",
            }
            stub.routes["GET /v1/models"] = Reply(200, json.dumps(page).encode(), headers=JSON)
        elif feature.startswith("error_") and feature[6:].isdigit():
            stub.routes[MESSAGES] = error(int(feature[6:]))
        elif feature == "timeout":
            stub.routes[MESSAGES] = Reply(200, b"{}", stall=10)
        elif feature == "error_in_200":
            body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            stub.routes[MESSAGES] = Reply(200, json.dumps(body).encode(), headers=JSON)
        elif feature == "midstream_error":
            failure = event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            stub.routes[MESSAGES] = Reply(200, [*opening, text_delta("Hel"), failure], headers=SSE)
        elif feature == "cancellation":
            frames = [*opening, *(text_delta(f" w{i}") for i in range(200))]
            stub.routes[MESSAGES] = Reply(200, frames, headers=SSE, delay=0.1)
            return Scenario(cancelled=lambda: stub.disconnects > 0)
        elif feature == "embeddings":
            return unsupported("Anthropic has no embeddings API")
        else:
            return unsupported(f"no {feature} in Anthropic's API")
        return Scenario()

    settings = {"api_key": SECRET, "base_url": stub.url}
    return Target(
        name="anthropic",
        factory="anthropic",
        settings=settings,
        model="claude-sonnet-4-5",
        arrange=arrange,
        secret=SECRET,
    )


class TestConformance(Conformance):
    pass
