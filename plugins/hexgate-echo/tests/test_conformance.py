"""The echo provider through the conformance suite (:mod:`hexgate.testing.conformance`).

Echo has no upstream, so its scenario driver steers it with the prompt: ``!fail <status>`` makes it
raise what the core maps that upstream status to. What echo cannot do is declared unsupported, with
the reason, and the suite skips it.
"""

from __future__ import annotations

import pytest
from hexgate_echo import EchoProvider

from hexgate.testing.conformance import Conformance, Scenario, Target, emulated, unsupported

NO_UPSTREAM = "echo has no upstream"
FAILS = {"error_400": 400, "error_401": 401, "error_403": 403, "error_404": 404, "error_429": 429}
FAILS |= {"error_500": 500, "error_503": 503}


def arrange(feature: str) -> Scenario:
    if feature in ("chat", "stream"):
        return Scenario(prompt="hello there echo", text="hello there echo")
    if feature == "embeddings":
        return Scenario(dimensions=16)
    if feature == "models":
        return Scenario()
    if feature in FAILS:
        return emulated(
            "echo raises the mapped error for the prompt `!fail <status>`", prompt=f"!fail {FAILS[feature]}"
        )
    if feature in ("tool_calls", "reasoning"):
        return unsupported("echo only repeats the user's text")
    return unsupported(NO_UPSTREAM)  # timeout, error_in_200, midstream_error, cancellation


@pytest.fixture(scope="module")
def hexgate_target() -> Target:
    return Target(name="echo", factory=EchoProvider, settings={"models": ["echo"]}, model="echo", arrange=arrange)


class TestConformance(Conformance):
    pass
