"""hexgate-local through the conformance suite (:mod:`hexgate.testing.conformance`) with its embedded
models (a small chat model and a sentence-embedding model). The model runs in the gateway's host, so
the upstream-HTTP error cases do not apply; kept small while the engine moves into a child process."""

from __future__ import annotations

import pytest

from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported, untested

NO_UPSTREAM = "no upstream service: the model runs on the gateway's host"


def arrange(feature: str) -> Scenario:
    if feature in ("chat", "stream", "models"):
        return Scenario(prompt="Say hi.")
    if feature == "embeddings":
        return Scenario(model="all-minilm-l6-v2")
    if feature.startswith("error_") or feature in ("timeout", "midstream_error"):
        return unsupported(NO_UPSTREAM)
    return untested("not wired for the embedded engine yet")


@pytest.fixture(scope="module")
def hexgate_target() -> Target:
    return Target(
        name="local",
        factory="local",
        settings={"default_max_tokens": 12},
        model="smollm2-135m-instruct",
        arrange=arrange,
        timeouts={"first_byte": 60.0, "total": 120.0},
    )


class TestConformance(Conformance):
    pass
