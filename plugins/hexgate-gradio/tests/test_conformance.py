"""hexgate-gradio through the conformance suite (:mod:`hexgate.testing.conformance`), against the
real Gradio server of ``tests/gradio_app.py`` (a streaming chat app, a ZeroGPU-quota app, a
crashing app). Cases that app cannot be made to show are marked not tested."""

from __future__ import annotations

import pytest

from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported, untested

NO_CASE = "the test Gradio app has no such case"
TEXT_ONLY = "a Gradio chat app takes text and answers text"


@pytest.fixture(scope="module")
def hexgate_target(gradio_app: str, quiet_env: dict[str, str]) -> Target:
    def arrange(feature: str) -> Scenario:
        if feature in ("chat", "stream", "models"):
            return Scenario(model="chat", prompt="hello there")
        if feature == "error_429":
            return Scenario(model="quota")
        if feature == "error_500":
            return Scenario(model="broken")
        if feature in ("tool_calls", "reasoning", "embeddings"):
            return unsupported(TEXT_ONLY)
        return untested(NO_CASE)

    models = {name: f"{gradio_app}/{name}" for name in ("chat", "quota", "broken")}
    return Target(
        name="gradio",
        factory="gradio",
        settings={"models": models, "poll_interval": 0.01, "hf_token": "hf_conformance0123456789"},
        model="chat",
        arrange=arrange,
        secret="hf_conformance0123456789",
        timeouts={"first_byte": 30.0, "total": 60.0},
    )


class TestConformance(Conformance):
    pass
