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
  ``retry-after``), ``error_5xx`` (500 → 502, 503 → 503), ``timeout`` (504), ``error_in_200`` (502),
  ``midstream_error`` (one error frame the SDK raises on);
- ``cancellation`` (a client that leaves mid-stream cancels the upstream request) and ``secrets``
  (``Target.secret`` in no error body and no log line).

A feature the driver answers with :func:`unsupported` is skipped with that reason, never passed or
failed; :func:`untested` skips a feature the wiring does not reach yet. A check that fails for a
known reason is overridden in the subclass with ``@pytest.mark.xfail(strict=True, reason=...)``
(calling ``super()``): CI stays green, the matrix says "FAILS (reason)", and the fix turns it red
until the mark goes. Run with
``--hexgate-matrix=PATH`` to write every outcome as JSON for :mod:`hexgate.testing.matrix`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn

from hexgate.protocol import ProviderFactory
from hexgate.testing import check_stream, free_port

__all__ = [
    "FEATURES",
    "RESULTS",
    "Conformance",
    "Gateway",
    "Scenario",
    "Target",
    "emulated",
    "run_last",
    "unsupported",
    "untested",
]

FEATURES: dict[str, str] = {
    "chat": "chat completion",
    "stream": "streamed chat",
    "stream_usage": "stream usage chunk",
    "tool_calls": "tool calls (streamed)",
    "reasoning": "reasoning_content",
    "embeddings": "embeddings (float, base64; dimensions where offered)",
    "models": "model list and metadata",
    "error_400": "upstream 400 → 400",
    "error_auth": "upstream 401/403 → 502",
    "error_404": "upstream 404 → 404",
    "error_429": "upstream 429 → 429 + retry-after",
    "error_5xx": "upstream 500 → 502, 503 → 503",
    "timeout": "upstream timeout → 504",
    "error_in_200": "error inside a 200 → 502",
    "midstream_error": "mid-stream error frame",
    "cancellation": "client disconnect cancels upstream",
    "secrets": "no secret in errors or logs",
}
"""Matrix rows: feature id → what it checks. ``Target.arrange`` is called with these ids, except
that ``error_auth`` arranges ``error_401`` and ``error_403``, ``error_5xx`` arranges ``error_500``
and ``error_503``, and ``stream_usage`` arranges ``stream``."""

TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
"""The one tool the ``tool_calls`` checks offer (renamed to ``Scenario.tool_name``); the arranged
upstream must call it."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """What the arranged upstream will do for one feature, and what the suite should expect."""

    model: str | None = None
    """The upstream model id to ask for (None: ``Target.model``)."""
    prompt: str = "Say hello."
    """The user message sent (a provider without an upstream can be driven by it)."""
    text: str | None = None
    """The exact answer text the upstream gives, when known (``chat``, ``stream``)."""
    tool_name: str = "get_weather"
    """``tool_calls``: the name of the one tool offered (see :data:`TOOL`); the upstream calls it."""
    dimensions: int | None = None
    """``embeddings``: ask for this many dimensions (None: do not send ``dimensions``)."""
    cancelled: Callable[[], bool] | None = None
    """``cancellation``: true once the upstream saw the client's request go away."""
    unsupported: str | None = None
    untested: str | None = None
    emulated: str | None = None
    """How the provider emulates the feature (the matrix says "emulated (how)")."""


def unsupported(reason: str) -> Scenario:
    """The provider does not offer this feature, because ``reason``: the check is skipped."""
    return Scenario(unsupported=reason)


def untested(reason: str) -> Scenario:
    """The provider may offer it, but this wiring cannot make its upstream do it: skipped."""
    return Scenario(untested=reason)


def emulated(how: str, **fields: Any) -> Scenario:
    """The feature passes through an emulation (``how``), e.g. tool calls parsed from text."""
    return Scenario(emulated=how, **fields)


@dataclass(frozen=True, kw_only=True)
class Target:
    """The provider under test, as a ``[providers.<name>]`` table in a gateway."""

    name: str
    """The provider id in the gateway (model names are ``<name>/<model>``) and the matrix column."""
    factory: ProviderFactory | str
    """The factory, or what ``plugin = "..."`` names (an entry point or ``module:attr``)."""
    settings: Mapping[str, Any]
    """The provider's table, without ``plugin``."""
    model: str
    """The upstream model id the checks ask for unless a :class:`Scenario` says otherwise."""
    arrange: Callable[[str], Scenario]
    """The scenario driver: make the upstream do a feature (ids in :data:`FEATURES`, plus
    ``error_401``, ``error_403``, ``error_500``, ``error_503``) and say what to expect."""
    secret: str | None = None
    """The credential in ``settings`` that must never reach a client or a log line."""
    timeouts: Mapping[str, float] = field(default_factory=lambda: {"first_byte": 1.5, "total": 30.0})
    """The provider's ``timeouts`` table; ``timeout`` expects a 504 once ``first_byte`` passes."""

    def plugin(self) -> str:
        if isinstance(self.factory, str):
            return self.factory
        return f"{self.factory.__module__}:{getattr(self.factory, '__qualname__', '')}"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into TOML")


def config_for(target: Target) -> str:
    """The gateway config (TOML) that serves ``target`` alone: no retries, no circuit breaking."""
    lines = [
        "[routing]",
        "retries = 0",
        "failure_threshold = 1000000",
        f"[providers.{target.name}]",
        f"plugin = {_toml(target.plugin())}",
        f"timeouts = {_toml(dict(target.timeouts))}",
        *(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in target.settings.items()),
    ]
    return "\n".join(lines) + "\n"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


@dataclass
class Gateway:
    """A running gateway: its OpenAI base URL, a client, and every log line it wrote."""

    base_url: str
    client: openai.OpenAI
    logs: list[str]


@contextlib.contextmanager
def serve(target: Target) -> Iterator[Gateway]:
    """hexgate serving ``target`` under uvicorn in a thread on 127.0.0.1, logging at INFO into
    :attr:`Gateway.logs`. Raises RuntimeError when it does not start within 60 s."""
    from hexgate.app import create_app
    from hexgate.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config_for(target), encoding="utf-8")
        app = create_app(load_settings(path, env={}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="info", log_config=None, lifespan="on", access_log=False
        )
    )
    handler = _Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    thread = threading.Thread(target=server.run, name=f"hexgate-conformance-{target.name}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway for {target.name!r} did not start:\n" + "\n".join(handler.lines))
            time.sleep(0.01)
        base = f"http://127.0.0.1:{port}/v1"
        with openai.OpenAI(base_url=base, api_key="conformance", max_retries=0, timeout=60.0) as client:
            yield Gateway(base, client, handler.lines)
    finally:
        server.should_exit = True
        thread.join(30)
        root.removeHandler(handler)
        root.setLevel(level)


# -- the pytest plugin: fixtures, option, results -------------------------------------------------


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


# -- the checks -----------------------------------------------------------------------------------


def _status(exc: openai.APIStatusError) -> tuple[int, dict[str, Any]]:
    try:
        body = exc.response.json()
    except ValueError:
        body = {}
    return exc.response.status_code, body


class Conformance:
    """The checks; a test module subclasses this (as ``TestConformance``) next to ``hexgate_target``."""

    @staticmethod
    def _arrange(request: pytest.FixtureRequest, target: Target, feature: str, arrange: str | None = None) -> Scenario:
        props = request.node.user_properties
        props += [("hexgate_provider", target.name), ("hexgate_feature", feature)]
        scenario = target.arrange(arrange or feature)
        if scenario.unsupported is not None:
            props += [("hexgate_status", "unsupported"), ("hexgate_detail", scenario.unsupported)]
            pytest.skip(f"{target.name} does not support {feature}: {scenario.unsupported}")
        if scenario.untested is not None:
            props += [("hexgate_status", "untested"), ("hexgate_detail", scenario.untested)]
            pytest.skip(f"{feature} is not tested for {target.name}: {scenario.untested}")
        if scenario.emulated is not None:
            props += [("hexgate_status", "emulated"), ("hexgate_detail", scenario.emulated)]
        return scenario

    @staticmethod
    def _model(target: Target, scenario: Scenario) -> str:
        return f"{target.name}/{scenario.model or target.model}"

    @staticmethod
    def _messages(scenario: Scenario) -> list[Any]:
        return [{"role": "user", "content": scenario.prompt}]

    def test_chat(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        scenario = self._arrange(request, hexgate_target, "chat")
        answer = hexgate_gateway.client.chat.completions.create(
            model=self._model(hexgate_target, scenario), messages=self._messages(scenario)
        )
        assert answer.object == "chat.completion"
        assert answer.choices, "no choices"
        choice = answer.choices[0]
        assert choice.message.role == "assistant"
        assert isinstance(choice.message.content, str) and choice.message.content
        if scenario.text is not None:
            assert choice.message.content == scenario.text
        assert choice.finish_reason in ("stop", "length")
        assert answer.usage is not None and answer.usage.completion_tokens >= 0

    def _stream(self, gateway: Gateway, model: str, scenario: Scenario, **extra: Any) -> list[dict[str, Any]]:
        stream = gateway.client.chat.completions.create(
            model=model, messages=self._messages(scenario), stream=True, **extra
        )
        with stream:
            return [chunk.model_dump(exclude_unset=True) for chunk in stream]

    def test_stream(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        scenario = self._arrange(request, hexgate_target, "stream")
        chunks = self._stream(hexgate_gateway, self._model(hexgate_target, scenario), scenario)
        assert check_stream(chunks) == []
        text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
        assert text, "the stream carried no text"
        if scenario.text is not None:
            assert text == scenario.text
        finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]
        assert finishes in (["stop"], ["length"]), f"one finish_reason expected, got {finishes}"

    def test_stream_done(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway
    ) -> None:
        scenario = self._arrange(request, hexgate_target, "stream")
        body = {"model": self._model(hexgate_target, scenario), "messages": self._messages(scenario), "stream": True}
        with httpx.stream("POST", f"{hexgate_gateway.base_url}/chat/completions", json=body, timeout=60) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            frames = [line for line in r.iter_lines() if line.startswith("data: ")]
        assert frames and frames[-1] == "data: [DONE]", f"last frame: {frames[-1:]}"
        assert frames.count("data: [DONE]") == 1

    def test_stream_usage(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway
    ) -> None:
        scenario = self._arrange(request, hexgate_target, "stream_usage", "stream")
        model = self._model(hexgate_target, scenario)
        asked = self._stream(hexgate_gateway, model, scenario, stream_options={"include_usage": True})
        assert asked[-1]["choices"] == [], "the usage chunk must come last, with choices: []"
        usage = asked[-1].get("usage")
        assert usage and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        assert all(c.get("usage") is None for c in asked[:-1]), "usage on a chunk before the last"
        scenario = self._arrange(request, hexgate_target, "stream_usage", "stream")
        plain = self._stream(hexgate_gateway, model, scenario)
        assert all(c["choices"] for c in plain), "a choices: [] chunk nobody asked for"

    def test_tool_calls(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        scenario = self._arrange(request, hexgate_target, "tool_calls")
        chunks = self._stream(
            hexgate_gateway,
            self._model(hexgate_target, scenario),
            scenario,
            tools=[{**TOOL, "function": {**TOOL["function"], "name": scenario.tool_name}}],
            tool_choice="auto",
        )
        assert check_stream(chunks) == []
        calls: dict[int, dict[str, str]] = {}
        for c in chunks:
            for ch in c["choices"]:
                for call in ch["delta"].get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                    slot["name"] += (call.get("function") or {}).get("name") or ""
                    slot["arguments"] += (call.get("function") or {}).get("arguments") or ""
        assert calls, "no tool call streamed"
        first = calls[min(calls)]
        assert first["name"] == scenario.tool_name
        assert isinstance(json.loads(first["arguments"]), dict)
        finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch.get("finish_reason")]
        assert finishes == ["tool_calls"]

    def test_reasoning(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        scenario = self._arrange(request, hexgate_target, "reasoning")
        model = self._model(hexgate_target, scenario)
        answer = hexgate_gateway.client.chat.completions.create(model=model, messages=self._messages(scenario))
        assert getattr(answer.choices[0].message, "reasoning_content", None), "no message.reasoning_content"
        scenario = self._arrange(request, hexgate_target, "reasoning")
        chunks = self._stream(hexgate_gateway, model, scenario)
        assert check_stream(chunks) == []
        assert "".join((ch["delta"].get("reasoning_content") or "") for c in chunks for ch in c["choices"])

    @pytest.mark.parametrize("encoding", ["float", "base64"])
    def test_embeddings(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway, encoding: str
    ) -> None:
        scenario = self._arrange(request, hexgate_target, "embeddings")
        extra: dict[str, Any] = {} if scenario.dimensions is None else {"dimensions": scenario.dimensions}
        url = f"{hexgate_gateway.base_url}/embeddings"
        body = {"model": self._model(hexgate_target, scenario), "input": ["one", "two"], "encoding_format": encoding}
        r = httpx.post(url, json=body | extra, timeout=60)  # raw: the SDK decodes base64 itself
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert [d["index"] for d in data] == [0, 1]
        if encoding == "base64":
            vectors = [
                struct.unpack(f"<{len(raw) // 4}f", raw) for raw in (base64.b64decode(d["embedding"]) for d in data)
            ]
        else:
            vectors = [tuple(d["embedding"]) for d in data]
        assert len({len(v) for v in vectors}) == 1 and vectors[0]
        if scenario.dimensions is not None:
            assert len(vectors[0]) == scenario.dimensions
        sdk = hexgate_gateway.client.embeddings.create(
            model=self._model(hexgate_target, scenario),
            input="one",
            encoding_format="float" if encoding == "float" else "base64",
            **extra,
        )
        assert len(sdk.data) == 1

    def test_models(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        scenario = self._arrange(request, hexgate_target, "models")
        listed = {m.id: m for m in hexgate_gateway.client.models.list()}
        wanted = self._model(hexgate_target, scenario)
        assert wanted in listed, f"{wanted} not in {sorted(listed)}"
        extra = listed[wanted].model_extra or {}
        assert extra.get("provider") == hexgate_target.name
        capabilities = extra.get("capabilities", {})  # only what the upstream tells
        assert isinstance(capabilities, dict) and all(isinstance(v, bool) for v in capabilities.values())
        assert hexgate_gateway.client.models.retrieve(wanted).id == wanted

    def _error(
        self, request: pytest.FixtureRequest, target: Target, gateway: Gateway, feature: str, arrange: str
    ) -> tuple[int, dict[str, Any], openai.APIStatusError]:
        scenario = self._arrange(request, target, feature, arrange)
        with pytest.raises(openai.APIStatusError) as info:
            gateway.client.chat.completions.create(
                model=self._model(target, scenario), messages=self._messages(scenario)
            )
        status, body = _status(info.value)
        error = body.get("error") or {}
        assert isinstance(error.get("message"), str) and isinstance(error.get("type"), str), body
        if target.secret:
            assert target.secret not in info.value.response.text
        return status, error, info.value

    def test_error_400(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "error_400", "error_400")
        assert (status, error["type"]) == (400, "invalid_request_error")

    @pytest.mark.parametrize("upstream", [401, 403])
    def test_error_auth(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway, upstream: int
    ) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "error_auth", f"error_{upstream}")
        assert (status, error["type"]) == (502, "upstream_error")

    def test_error_404(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "error_404", "error_404")
        assert (status, error["type"]) == (404, "invalid_request_error")

    def test_error_429(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        status, error, exc = self._error(request, hexgate_target, hexgate_gateway, "error_429", "error_429")
        assert (status, error["type"]) == (429, "rate_limit_error")
        assert float(exc.response.headers["retry-after"]) >= 0

    @pytest.mark.parametrize(("upstream", "expected"), [(500, 502), (503, 503)])
    def test_error_5xx(
        self,
        request: pytest.FixtureRequest,
        hexgate_target: Target,
        hexgate_gateway: Gateway,
        upstream: int,
        expected: int,
    ) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "error_5xx", f"error_{upstream}")
        assert (status, error["type"]) == (expected, "upstream_error")

    def test_timeout(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "timeout", "timeout")
        assert (status, error["type"]) == (504, "timeout_error")

    def test_error_in_200(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway
    ) -> None:
        status, error, _ = self._error(request, hexgate_target, hexgate_gateway, "error_in_200", "error_in_200")
        assert status == 502 or (status == 429 and error["type"] == "rate_limit_error"), (status, error)

    def test_midstream_error(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway
    ) -> None:
        scenario = self._arrange(request, hexgate_target, "midstream_error")
        stream = hexgate_gateway.client.chat.completions.create(
            model=self._model(hexgate_target, scenario), messages=self._messages(scenario), stream=True
        )
        received = 0
        with stream, pytest.raises(openai.APIError) as info:
            for _ in stream:
                received += 1
        assert received >= 1, "the error came before any chunk: not a mid-stream error"
        if hexgate_target.secret:
            assert hexgate_target.secret not in str(info.value)

    def test_cancellation(
        self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway
    ) -> None:
        scenario = self._arrange(request, hexgate_target, "cancellation")
        assert scenario.cancelled is not None, "the cancellation scenario must say how to see the upstream cancel"
        stream = hexgate_gateway.client.chat.completions.create(
            model=self._model(hexgate_target, scenario), messages=self._messages(scenario), stream=True
        )
        with stream:
            next(iter(stream))
        deadline = time.monotonic() + 10
        while not scenario.cancelled() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scenario.cancelled(), "the upstream request went on after the client left"

    def test_secrets(self, request: pytest.FixtureRequest, hexgate_target: Target, hexgate_gateway: Gateway) -> None:
        props = request.node.user_properties
        props += [("hexgate_provider", hexgate_target.name), ("hexgate_feature", "secrets")]
        secret = hexgate_target.secret
        if secret is None:
            props += [("hexgate_status", "unsupported"), ("hexgate_detail", "no credential")]
            pytest.skip(f"{hexgate_target.name} takes no credential")
        for kind in ("error_401", "error_500", "midstream_error"):
            scenario = hexgate_target.arrange(kind)
            if scenario.unsupported or scenario.untested:
                continue
            body = {"model": self._model(hexgate_target, scenario), "messages": self._messages(scenario)}
            r = httpx.post(f"{hexgate_gateway.base_url}/chat/completions", json=body, timeout=60)
            assert secret not in r.text, f"{kind}: the secret is in the client's answer"
        leaked = [line for line in hexgate_gateway.logs if secret in line]
        assert not leaked, f"the secret is in {len(leaked)} log line(s), e.g. {leaked[0][:200]!r}"
