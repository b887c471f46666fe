"""The conformance checks: :class:`Conformance`, which a plugin's test module subclasses (public
through :mod:`hexgate.testing.conformance`; what each checks is listed there)."""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import check_stream
from hexgate.testing._gateway import Gateway
from hexgate.testing._target import TOOL, Scenario, Target

__all__ = ["Conformance"]


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
        assert all(c.get("usage") is None for c in plain), "usage on a chunk nobody asked for"

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
        # 502; or what the error's own kind says: 429 for a quota, 503 for an overloaded upstream
        expected = {(502, "upstream_error"), (429, "rate_limit_error"), (503, "upstream_error")}
        assert (status, error["type"]) in expected, (status, error)

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
