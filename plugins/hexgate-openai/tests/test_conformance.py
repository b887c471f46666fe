"""hexgate-openai through the conformance suite (:mod:`hexgate.testing.conformance`): a
:class:`~hexgate.testing.StubUpstream` replays the captures in ``fixtures/`` for each feature."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, replay_frames
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "sk-conformance-0123456789abcdef"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
CHAT = "POST /v1/chat/completions"
ERRORS = {"error_400": 400, "error_401": 401, "error_403": 403, "error_404": 404, "error_429": 429}
ERRORS |= {"error_500": 500, "error_503": 503}


def capture(name: str) -> tuple[bytes, list[bytes]]:
    """A capture's JSON answer and its stream frames (``data: [DONE]`` last)."""
    lines = (FIXTURES / f"{name}.chunks.txt").read_text().splitlines()
    return (FIXTURES / f"{name}.json").read_bytes(), replay_frames(lines, style="data", done=True)


def replay(name: str):  # type: ignore[no-untyped-def]
    whole, frames = capture(name)

    def answer(req: RecordedRequest) -> Reply:
        if req.json().get("stream"):
            return Reply(200, frames, headers=SSE)
        return Reply(200, whole, headers=JSON)

    return answer


def embeddings(req: RecordedRequest) -> Reply:
    body = req.json()
    dims = body.get("dimensions") or 8
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = []
    for i, _ in enumerate(inputs):
        vector = [(i + j + 1) / 10 for j in range(dims)]
        value: object = vector
        if body.get("encoding_format") == "base64":
            value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    usage = {"prompt_tokens": 2, "total_tokens": 2}
    return Reply(200, json.dumps({"object": "list", "data": data, "model": "emb", "usage": usage}).encode())


def error(status: int) -> Reply:
    message = f"upstream says {status}" if status != 401 else f"Incorrect API key provided: {SECRET}"
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": None}})
    return Reply(status, body.encode(), headers={**JSON, "retry-after": "1"})


def chunk(delta: dict[str, object]) -> bytes:
    payload = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return (
        b"data: " + json.dumps({**payload, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}).encode()
    )


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def hexgate_target(stub: StubUpstream) -> Target:
    def arrange(feature: str) -> Scenario:
        stub.reset()
        if feature in ("chat", "stream"):
            stub.routes[CHAT] = replay("openai--chat--openai-text")
        elif feature == "tool_calls":
            stub.routes[CHAT] = replay("deepseek--chat--deepseek-tool-call")
            return Scenario(tool_name="weather")
        elif feature == "reasoning":
            stub.routes[CHAT] = replay("deepseek--chat--deepseek-reasoning")
        elif feature == "embeddings":
            stub.routes["POST /v1/embeddings"] = embeddings
            return Scenario(model="emb", dimensions=12)
        elif feature == "models":
            models = {"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]}
            stub.routes["GET /v1/models"] = Reply(200, json.dumps(models).encode())
        elif feature in ERRORS:
            stub.routes[CHAT] = error(ERRORS[feature])
        elif feature == "timeout":
            stub.routes[CHAT] = Reply(200, b"{}", stall=10)
        elif feature == "error_in_200":
            stub.routes[CHAT] = Reply(200, b'{"error": {"message": "overloaded", "code": 500}}', headers=JSON)
        elif feature == "midstream_error":
            error_frame = b'data: {"error": {"message": "the model crashed", "type": "server_error"}}\n\n'
            stub.routes[CHAT] = Reply(
                200, [chunk({"role": "assistant", "content": "Hi"}) + b"\n\n", error_frame], headers=SSE
            )
        elif feature == "cancellation":
            frames = [chunk({"role": "assistant", "content": ""}) + b"\n\n"]
            frames += [chunk({"content": f" w{i}"}) + b"\n\n" for i in range(200)]
            stub.routes[CHAT] = Reply(200, frames, headers=SSE, delay=0.1)
            return Scenario(cancelled=lambda: stub.disconnects > 0)
        else:
            return unsupported(f"no {feature} in the OpenAI API")
        return Scenario()

    settings = {"base_url": f"{stub.url}/v1", "api_key": SECRET}
    return Target(name="openai", factory="openai", settings=settings, model="m", arrange=arrange, secret=SECRET)


class TestConformance(Conformance):
    pass
