"""Table tests for the pure OpenAI ⇄ Puter mappings (hexgate_puter.translate)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import msgspec
import pytest
from hexgate_puter import PuterProvider, translate, wire

from hexgate.errors import (
    AuthenticationFailed,
    HexgateError,
    InvalidRequest,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.plugin_kit import completion_as_chunks
from hexgate.schemas.chat import ChatCompletionRequest
from hexgate.schemas.images import ImageGenerationRequest

_request = msgspec.json.Decoder(ChatCompletionRequest)
_line = msgspec.json.Decoder(wire.StreamLine)
_result = msgspec.json.Decoder(wire.ChatResult)


def chat(**body: Any) -> ChatCompletionRequest:
    body.setdefault("model", "puter/gpt-5-nano")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return _request.decode(json.dumps(body))


def encoded(obj: Any) -> Any:
    return json.loads(msgspec.json.encode(obj))


# ---------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "user", "content": "hi"}, {"role": "user", "content": "hi"}),
        ({"role": "developer", "content": "be brief"}, {"role": "system", "content": "be brief"}),
        (
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "refusal", "refusal": "b"}]},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        ),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                "reasoning_content": "not sent",
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
        ),
        (
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ),
        ({"role": "function", "name": "f", "content": "42"}, {"role": "tool", "content": "42", "tool_call_id": "f"}),
        ({"role": "user", "name": "ann", "content": "hi"}, {"role": "user", "content": "hi", "name": "ann"}),
    ],
)
def test_messages(message: dict[str, Any], expected: dict[str, Any]) -> None:
    messages, vision = translate.to_messages(chat(messages=[message]).messages)
    assert encoded(messages) == [expected]
    assert vision is False


def test_image_part_sets_vision() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://example.test/cat.png", "detail": "low"}}
    messages, vision = translate.to_messages(chat(messages=[{"role": "user", "content": [part]}]).messages)
    assert vision is True
    assert encoded(messages)[0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}
    ]


def test_audio_part_is_unsupported_and_named() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(Unsupported) as caught:
        translate.to_messages(chat(messages=[{"role": "user", "content": ["x", part][1:]}]).messages)
    assert caught.value.param == "messages[0].content[0]"


def test_chat_args_full() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    args = translate.chat_args(
        chat(temperature=0.5, max_tokens=10, max_completion_tokens=20, tools=tools, reasoning_effort="low"),
        model="gpt-5-nano",
        stream=True,
        provider="openrouter",
    )
    assert encoded(args) == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "gpt-5-nano",
        "stream": True,
        "temperature": 0.5,
        "max_tokens": 20,
        "tools": tools,
        "reasoning_effort": "low",
        "provider": "openrouter",
    }


def test_chat_args_minimal_and_tool_choice_none_drops_tools() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    args = translate.chat_args(chat(tools=tools, tool_choice="none"), model="m", stream=False)
    assert encoded(args) == {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": False}


@pytest.mark.parametrize(("body", "param"), [({"n": 2}, "n"), ({"logprobs": True}, "logprobs")])
def test_chat_args_refuses(body: dict[str, Any], param: str) -> None:
    with pytest.raises(Unsupported) as caught:
        translate.chat_args(chat(**body), model="m", stream=False)
    assert caught.value.param == param


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        ),
        ({"input_tokens": 3, "output_tokens": 4}, {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
        (
            {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 6, "reasoning_tokens": 1},
            {
                "prompt_tokens": 10,
                "completion_tokens": 2,
                "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 6},
                "completion_tokens_details": {"reasoning_tokens": 1},
            },
        ),
        (
            [{"type": "prompt", "model": "m", "amount": 5, "cost": 1}, {"type": "completion", "amount": 6}],
            {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        ),
        ({"cost": 3}, None),
        ([], None),
        ("nonsense", None),
        (None, None),
    ],
)
def test_usage(usage: Any, expected: dict[str, int] | None) -> None:
    got = translate.usage_from(usage)
    assert (encoded(got) if got is not None else None) == expected


# ---------------------------------------------------------------- answers


def test_completion_with_tool_use_parts_and_object_arguments() -> None:
    result = _result.decode(
        json.dumps(
            {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}},
                    ],
                },
                "usage": {"input_tokens": 1, "output_tokens": 2},
            }
        )
    )
    done = encoded(translate.completion_from(result, model="m", cid="chatcmpl-1", created=5))
    choice = done["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    assert choice["message"]["tool_calls"] == [
        {"id": "toolu_1", "function": {"name": "lookup", "arguments": '{"q":"x"}'}, "type": "function"}
    ]
    assert done["usage"]["total_tokens"] == 3


def test_completion_without_message_is_empty_text() -> None:
    done = translate.completion_from(wire.ChatResult(), model="m", cid="c", created=1)
    assert done.choices[0].message.content == ""
    assert done.choices[0].finish_reason == "stop"


def feed(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state = translate.StreamTranslator(cid="chatcmpl-x", created=1, model="m")
    out: list[dict[str, Any]] = []
    for line in lines:
        out.extend(encoded(c) for c in state.feed(_line.decode(json.dumps(line))))
    out.append(encoded(state.finish()))
    return out


def test_stream_text_reasoning_usage() -> None:
    chunks = feed(
        [
            {"type": "reasoning", "reasoning": "hmm"},
            {"type": "text", "text": "Hi"},
            {"type": "text", "text": ""},
            {"type": "compaction", "id": "x", "encrypted_content": "..."},
            {"type": "usage", "usage": {"input_tokens": 2, "output_tokens": 1}},
        ]
    )
    assert [c["choices"][0]["delta"] for c in chunks] == [{"reasoning_content": "hmm"}, {"content": "Hi"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    assert {c["id"] for c in chunks} == {"chatcmpl-x"}


def test_stream_whole_tool_call_becomes_header_then_one_arguments_delta() -> None:
    chunks = feed([{"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": [1, 2]}, "text": ""}])
    assert [c["choices"][0]["delta"] for c in chunks[:2]] == [
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":[1,2]}'}}]},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in chunks[-1]


@pytest.mark.parametrize(
    ("line", "kind", "status", "code"),
    [
        ({"type": "error", "message": "boom"}, UpstreamError, 502, None),
        (
            {"type": "error", "message": "no money", "error": {"code": "insufficient_funds"}},
            UpstreamRateLimited,
            429,
            "insufficient_quota",
        ),
        (
            {"type": "error", "message": "limit", "metadata": {"usage_limited": True}},
            UpstreamRateLimited,
            429,
            "insufficient_quota",
        ),
        (
            {"type": "text", "text": "", "metadata": {"usage_limited": True}},
            UpstreamRateLimited,
            429,
            "insufficient_quota",
        ),
        (
            {"success": False, "error": {"code": "token_auth_failed", "message": "x"}},
            UpstreamAuthError,
            502,
            "token_auth_failed",
        ),
        (
            {"type": "error", "error": {"code": "x", "message": "gone", "status": 503}},
            UpstreamOverloaded,
            503,
            "upstream_overloaded",
        ),
    ],
)
def test_stream_error_lines(line: dict[str, Any], kind: type[HexgateError], status: int, code: str | None) -> None:
    state = translate.StreamTranslator(cid="c", created=1, model="m")
    with pytest.raises(kind) as caught:
        state.feed(_line.decode(json.dumps(line)))
    assert (caught.value.status, caught.value.code) == (status, code)


def test_a_whole_answer_replays_as_chunks() -> None:
    result = _result.decode(
        json.dumps(
            {
                "message": {
                    "content": "ok",
                    "reasoning_content": "why",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                },
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }
        )
    )
    whole = translate.completion_from(result, model="m", cid="c", created=1)
    deltas = [encoded(c)["choices"][0] for c in completion_as_chunks(whole)]
    assert [d["delta"] for d in deltas] == [
        {
            "role": "assistant",
            "content": "ok",
            "reasoning_content": "why",
            "tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {},
    ]
    assert deltas[-1]["finish_reason"] == "tool_calls"


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "code", "client", "kind", "out_status", "out_code"),
    [
        (200, "token_auth_failed", False, UpstreamAuthError, 502, "token_auth_failed"),
        (401, "reauth_required", False, UpstreamAuthError, 502, "reauth_required"),
        (200, "permission_denied", False, UpstreamAuthError, 502, "permission_denied"),
        (200, "email_must_be_confirmed", False, UpstreamAuthError, 502, "email_must_be_confirmed"),
        (403, None, False, UpstreamAuthError, 502, None),
        (401, "token_auth_failed", True, AuthenticationFailed, 401, "invalid_api_key"),
        (200, "insufficient_funds", False, UpstreamRateLimited, 429, "insufficient_quota"),
        (402, None, False, UpstreamRateLimited, 429, "insufficient_quota"),
        (200, "usage_limited", True, UpstreamRateLimited, 429, "insufficient_quota"),
        (429, None, False, UpstreamRateLimited, 429, "rate_limit_exceeded"),
        (200, "rate_limit_exceeded", False, UpstreamRateLimited, 429, "rate_limit_exceeded"),
        (400, "field_invalid", False, UpstreamRejected, 400, "field_invalid"),
        (404, "model_not_found", False, UpstreamRejected, 404, "model_not_found"),
        (503, None, False, UpstreamOverloaded, 503, "upstream_overloaded"),
        (504, None, False, UpstreamTimeout, 504, None),
        (500, "internal", False, UpstreamError, 502, "internal"),
        (200, "brand_new_code", False, UpstreamError, 502, "brand_new_code"),
    ],
)
def test_map_error(
    status: int, code: str | None, client: bool, kind: type[HexgateError], out_status: int, out_code: str | None
) -> None:
    err = translate.map_error(status=status, code=code, message="msg", retry_after=3.0, client_token=client)
    assert type(err) is kind
    assert (err.status, err.code) == (out_status, out_code)
    if isinstance(err, UpstreamRateLimited):
        assert err.headers == {"retry-after": "3"}


@pytest.mark.parametrize(
    ("error", "code", "message", "expected"),
    [
        ({"code": "a", "message": "b", "status": 402}, None, None, ("a", "b", 402)),
        ("plain text", "c", None, ("c", "plain text", None)),
        (None, None, "top", (None, "top", None)),
        (None, 7, "", ("7", None, None)),
    ],
)
def test_error_details(error: Any, code: Any, message: Any, expected: tuple[Any, ...]) -> None:
    assert translate.error_details(error, code=code, message=message) == expected


# ---------------------------------------------------------------- images and models


@pytest.mark.parametrize(
    ("body", "args"),
    [
        ({"prompt": "p"}, {"prompt": "p", "model": "m"}),
        ({"prompt": "p", "size": "auto", "quality": "auto"}, {"prompt": "p", "model": "m"}),
        (
            {"prompt": "p", "size": "1024x1024", "quality": "high"},
            {"prompt": "p", "model": "m", "quality": "high", "ratio": {"w": 1, "h": 1}},
        ),
        ({"prompt": "p", "size": "1792x1024"}, {"prompt": "p", "model": "m", "ratio": {"w": 7, "h": 4}}),
        ({"prompt": "p", "style": "vivid", "background": "transparent"}, {"prompt": "p", "model": "m"}),
    ],
)
def test_image_args(body: dict[str, Any], args: dict[str, Any]) -> None:
    req = msgspec.convert(body, ImageGenerationRequest)
    assert encoded(translate.image_args(req, model="m")) == args


@pytest.mark.parametrize("size", ["big", "0x10", "10x", "axb"])
def test_image_args_bad_size(size: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        translate.image_args(ImageGenerationRequest(prompt="p", size=size), model="m")
    assert caught.value.param == "size"


PNG = b"\x89PNG\r\n\x1a\n" + b"rest"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("image/png", PNG, PNG),
        ("application/octet-stream", PNG, PNG),
        ("image/webp", b"anything", b"anything"),
        ("text/plain", b"data:image/png;base64," + base64.b64encode(PNG), PNG),
        ("application/json", b'"data:image/png;base64,' + base64.b64encode(PNG) + b'"', PNG),
        ("application/json", b'{"success":false}', None),
        ("text/plain", b"data:image/png;base64,@@@", None),
    ],
)
def test_image_bytes(content_type: str, body: bytes, expected: bytes | None) -> None:
    assert translate.image_bytes(content_type, body) == expected


def test_model_from() -> None:
    entry = msgspec.convert(
        {"id": "m1", "name": "M One", "provider": "x", "context": 1000, "max_tokens": "?"}, wire.ModelEntry
    )
    assert encoded(translate.model_from(entry)) == {
        "id": "m1",
        "created": 0,
        "owned_by": "x",
        "object": "model",
        "display_name": "M One",
        "context_window": 1000,
        "capabilities": {"chat": True, "streaming": True},
    }
    assert translate.model_from("m2").id == "m2"


def test_openai_mode_reasoning_alias() -> None:
    chunk = translate.openai_chunk(
        {"id": "c", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"reasoning": "r"}}]}
    )
    assert chunk.choices[0].delta.reasoning_content == "r"
    done = translate.openai_completion(
        {
            "id": "c",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "stop"}],
        }
    )
    assert done.choices[0].message.content is None


# ---------------------------------------------------------------- settings


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))


def test_settings_reject_unknown_keys_and_bad_values() -> None:
    with pytest.raises(msgspec.ValidationError, match="auth_tokn"):
        PuterProvider({"auth_tokn": "x"}, http=_client())
    with pytest.raises(msgspec.ValidationError, match="mode"):
        PuterProvider({"mode": "grpc"}, http=_client())
    with pytest.raises(ValueError, match="base_url"):
        PuterProvider({"base_url": "api.puter.example"}, http=_client())
    provider = PuterProvider({"auth_token": "t", "mode": "openai", "backend": "openrouter"}, http=_client())
    assert provider.settings.mode == "openai"
