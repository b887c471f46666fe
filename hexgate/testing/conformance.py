"""The provider conformance suite: a pytest plugin any hexgate plugin runs against its provider.

Enable it from the tests' root ``conftest.py`` (or ``-p hexgate.testing.conformance``)::

    pytest_plugins = ["hexgate.testing.conformance"]

then, in a test module, give the suite a :class:`Target` and subclass :class:`Conformance`::

    from hexgate.testing.conformance import Conformance, Scenario, Target, unsupported

    @pytest.fixture(scope="module")
    def hexgate_target(stub):            # module or session scope: one gateway per module
        def arrange(feature: str) -> Scenario:
            stub.reset()
            ...                          # make the upstream do `feature` (see FEATURES)
            return Scenario()
        return Target(name="mine", factory=MyProvider, settings={"base_url": stub.url}, model="m1",
                      arrange=arrange, secret="sk-test-0123456789")

    class TestConformance(Conformance):
        pass

Each check starts the provider inside a real gateway (uvicorn on 127.0.0.1 in a thread, one per
module), arranges the upstream through ``Target.arrange(feature)`` (a stub, recorded captures or a
live endpoint: the suite does not care) and talks to it with the official ``openai`` client, as a
user would. What it checks is ARCHITECTURE.md's "Streaming rules" and "Errors" table:

- ``chat``, ``stream`` (role first, one id, a finish, ``data: [DONE]`` last), ``stream_usage`` (a last
  chunk with ``choices: []`` and ``usage`` when asked, none when not);
- ``tool_calls`` (index, id and name on a call's first delta, then arguments only), ``reasoning``;
- ``embeddings`` (float and base64, ``dimensions``), ``models`` (the listing and its metadata);
- the error mapping: ``error_400``, ``error_auth`` (401/403 → 502), ``error_404``, ``error_429`` (with
  ``retry-after``), ``error_5xx`` (500 → 502, 503 → 503), ``timeout`` (504), ``error_in_200`` (502; 429
  for a quota, 503 for an overloaded upstream), ``midstream_error`` (one error frame the SDK raises on);
- ``cancellation`` (a client that leaves mid-stream cancels the upstream request) and ``secrets``
  (``Target.secret`` in no error body and no log line).

A feature the driver answers with :func:`unsupported` is skipped with that reason, never passed or
failed; :func:`untested` skips a feature the wiring does not reach yet. A check that fails for a
known reason is overridden in the subclass with ``@pytest.mark.xfail(strict=True, reason=...)``
(calling ``super()``): CI stays green, the matrix says "FAILS (reason)", and the fix turns it red
until the mark goes. Run with ``--hexgate-matrix=PATH`` to write every outcome as JSON for
:mod:`hexgate.testing.matrix`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("hexgate.testing._checks")  # detailed assertion messages in the checks

from hexgate.testing._checks import Conformance  # noqa: E402
from hexgate.testing._gateway import Gateway, config_for, serve  # noqa: E402
from hexgate.testing._target import FEATURES, TOOL, Scenario, Target, emulated, unsupported, untested  # noqa: E402

__all__ = [
    "FEATURES",
    "RESULTS",
    "TOOL",
    "Conformance",
    "Gateway",
    "Scenario",
    "Target",
    "config_for",
    "emulated",
    "run_last",
    "serve",
    "unsupported",
    "untested",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hexgate-matrix",
        metavar="PATH",
        default=None,
        help="write every conformance outcome as JSON to PATH (input of python -m hexgate.testing.matrix)",
    )


RESULTS: list[dict[str, str]] = []
"""Every conformance outcome of this session (what ``--hexgate-matrix`` writes)."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "hexgate_feature" not in props or (report.when != "call" and report.passed):
        return
    known = getattr(report, "wasxfail", None)  # a check marked xfail(strict=True): a known failure
    RESULTS.append(
        {
            "provider": str(props["hexgate_provider"]),
            "feature": str(props["hexgate_feature"]),
            "outcome": "failed" if known is not None else report.outcome,
            "status": str(props.get("hexgate_status", "")),
            "detail": known or str(props.get("hexgate_detail", "")),
            "test": report.nodeid.rsplit("::", 1)[-1],
        }
    )


def run_last(function: Callable[..., None]) -> Callable[..., None]:
    """Mark a test to run after every other test of the session (e.g. one that reads
    :data:`RESULTS` of this run)."""
    function._hexgate_run_last = True  # type: ignore[attr-defined]
    return function


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [i for i in items if getattr(getattr(i, "function", None), "_hexgate_run_last", False)]
    if last:
        items[:] = [i for i in items if i not in last] + last


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--hexgate-matrix", None)
    if path:
        Path(path).write_text(json.dumps({"results": RESULTS}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def hexgate_gateway(hexgate_target: Target) -> Iterator[Gateway]:
    """The gateway serving the module's ``hexgate_target`` (which the test module provides)."""
    with serve(hexgate_target) as gateway:
        yield gateway
