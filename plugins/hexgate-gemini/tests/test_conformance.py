"""hexgate-gemini through the conformance suite (:mod:`hexgate.testing.conformance`): the real
``google-genai`` SDK inside the plugin, a :class:`~hexgate.testing.StubUpstream` replaying the captures
in ``fixtures/`` (and Gemini's documented shapes where no capture has the case) for each feature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexgate.testing import RecordedRequest, Reply, StubUpstream, replay_frames
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "AIzaConformanceKey0123456789abcdefghij"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream"}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
STATUS |= {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def frames(bodies: list[dict[str, Any]]) -> list[bytes]:
    return [f"data: {json.dumps(b)}\n\n".encode() for b in bodies]


def both(whole: bytes, stream: list[bytes]) -> Any:
    """``:generateContent`` gets ``whole``, ``:streamGenerateContent`` the ``stream`` frames."""

    def answer(req: RecordedRequest) -> Reply:
        if "streamGenerateContent" in req.path:
            return Reply(200, stream, headers=SSE)
        return Reply(200, whole, headers=JSON)

    return answer


def capture(name: str) -> Any:
    lines = (FIXTURES / f"google--{name}.chunks.txt").read_text().splitlines()
    return both((FIXTURES / f"google--{name}.json").read_bytes(), replay_frames(lines, style="data"))


def thinking() -> Any:
    """Gemini's documented ``thought: true`` parts (no capture has them)."""
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 1, "thoughtsTokenCount": 4, "totalTokenCount": 10}
    parts = [{"text": "Count the rs.", "thought": True}, {"text": "3"}]
    whole = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    pieces = [{"candidates": [{"content": {"role": "model", "parts": [p]}}]} for p in parts]
    pieces[-1]["candidates"][0]["finishReason"] = "STOP"
    return both(
        json.dumps({**whole, "usageMetadata": usage}).encode(),
        frames([*pieces[:-1], {**pieces[-1], "usageMetadata": usage}]),
    )


def embeddings(req: RecordedRequest) -> Reply:
    asked = req.json()["requests"]
    dims = asked[0].get("outputDimensionality") or 8
    vectors = [{"values": [(i + j + 1) / 8 for j in range(dims)]} for i in range(len(asked))]
    return Reply(200, json.dumps({"embeddings": vectors}).encode(), headers=JSON)


def error(status: int) -> Reply:
    if status == 429:
        return Reply(429, (FIXTURES / "google--google-429-retry-info.json").read_bytes(), headers=JSON)
    message = f"API key not valid: {SECRET}" if status == 401 else f"upstream says {status}"
    body = {"error": {"code": status, "message": message, "status": STATUS[status]}}
    return Reply(status, json.dumps(body).encode(), headers=JSON)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def hexgate_target(stub: StubUpstream) -> Target:
    text = replay_frames((FIXTURES / "google--google-text.chunks.txt").read_text().splitlines(), style="data")

    def arrange(feature: str) -> Scenario:
        stub.reset()
        if feature in ("chat", "stream"):
            stub.routes["POST *"] = capture("google-text")
        elif feature == "tool_calls":
            stub.routes["POST *"] = capture("google-tool-call")
            return Scenario(tool_name="weather")
        elif feature == "reasoning":
            stub.routes["POST *"] = thinking()
        elif feature == "embeddings":
            stub.routes["POST *"] = embeddings
            return Scenario(model="gemini-embedding-001", dimensions=12)
        elif feature == "models":
            listing = {
                "models": [
                    {
                        "name": "models/gemini-2.5-flash",
                        "displayName": "Gemini 2.5 Flash",
                        "inputTokenLimit": 1048576,
                        "supportedGenerationMethods": ["generateContent"],
                    }
                ]
            }
            stub.routes["GET *"] = Reply(200, json.dumps(listing).encode(), headers=JSON)
        elif feature.startswith("error_") and feature[6:].isdigit():
            stub.routes["POST *"] = error(int(feature[6:]))
        elif feature == "timeout":
            stub.routes["POST *"] = Reply(200, b"{}", stall=10)
        elif feature == "error_in_200":
            body = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
            stub.routes["POST *"] = Reply(200, json.dumps(body).encode(), headers=JSON)
        elif feature == "midstream_error":
            failure = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
            stub.routes["POST *"] = Reply(200, [text[0], *frames([failure])], headers=SSE)
        elif feature == "cancellation":
            stub.routes["POST *"] = Reply(200, text[:1], headers=SSE, hang=20)
            return Scenario(cancelled=lambda: stub.disconnects > 0)
        else:
            return unsupported(f"no {feature} in the Gemini API")
        return Scenario()

    settings = {"api_key": SECRET, "base_url": stub.url}
    return Target(
        name="gemini", factory="gemini", settings=settings, model="gemini-2.5-flash", arrange=arrange, secret=SECRET
    )


class TestConformance(Conformance):
    pass
