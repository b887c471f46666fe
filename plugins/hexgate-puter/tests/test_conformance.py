"""hexgate-puter (driver mode) through the conformance suite (:mod:`hexgate.testing.conformance`),
against the prompt-driven stub of ``conftest`` (a word of the prompt picks what Puter answers);
the few cases that stub has no word for are arranged on its route directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hexgate.testing import Reply, StubUpstream
from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

JSON = {"content-type": "application/json"}
WORDS = {
    "chat": "hello",
    "stream": "hello",
    "tool_calls": "weather",
    "reasoning": "think",
    "error_400": "badparam",
    "error_401": "http401",
    "error_429": "ratelimit",
    "error_500": "crash",
    "error_503": "overloaded",
    "error_in_200": "weird",
    "midstream_error": "midfail",
    "models": "hello",
}


@pytest.fixture(scope="module")
def hexgate_target(puter_stub: StubUpstream, puter_wire: Any) -> Iterator[Target]:
    stub = puter_stub
    driver = stub.routes["POST /drivers/call"]

    def arrange(feature: str) -> Scenario:
        stub.requests.clear()
        stub.completed = stub.disconnects = 0
        stub.routes["POST /drivers/call"] = driver
        if feature in WORDS:
            text = {"chat": "Hello there", "stream": "Hello there"}.get(feature)
            return Scenario(prompt=f"{WORDS[feature]} please", text=text)
        if feature in ("error_403", "error_404"):
            status = int(feature[6:])
            body = {"success": False, "error": {"code": "forbidden" if status == 403 else "not_found", "message": "no"}}
            stub.routes["POST /drivers/call"] = Reply(status, json.dumps(body).encode(), headers=JSON)
            return Scenario()
        if feature == "timeout":
            stub.routes["POST /drivers/call"] = Reply(200, b"{}", stall=10)
            return Scenario()
        if feature == "cancellation":
            return Scenario(prompt="slow please", cancelled=lambda: stub.disconnects > 0)
        if feature == "embeddings":
            return unsupported("Puter's API has no embeddings")
        return unsupported(f"no {feature} in Puter's API")

    settings = {"base_url": stub.url, "auth_token": puter_wire.token}
    return Target(
        name="puter", factory="puter", settings=settings, model="gpt-5-nano", arrange=arrange, secret=puter_wire.token
    )


class TestConformance(Conformance):
    pass
