"""Anthropic answers → OpenAI: finish reasons, usage, choices from the captured ``*.json`` bodies,
the ``n > 1`` combination, error types and model entries (translate.py, wire.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hexgate_anthropic import wire
from hexgate_anthropic.translate import (
    REASONING_FORMAT,
    add_usage,
    body_error,
    combine,
    error_from_type,
    finish_reason,
    message_error,
    model_entry,
    scrub,
    sent_credentials,
    to_choice,
    to_usage,
)

from hexgate.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.schemas.chat import ReasoningDetail


@pytest.mark.parametrize(
    ("stop_reason", "tool_calls", "expected"),
    [
        ("end_turn", False, "stop"),
        ("stop_sequence", False, "stop"),
        ("pause_turn", False, "stop"),
        ("max_tokens", False, "length"),
        ("model_context_window_exceeded", False, "length"),
        ("tool_use", True, "tool_calls"),
        ("tool_use", False, "tool_calls"),
        ("end_turn", True, "tool_calls"),
        ("refusal", False, "content_filter"),
        ("refusal", True, "tool_calls"),
        ("max_tokens", True, "length"),
        ("something_new", False, "stop"),
        (None, False, "stop"),
    ],
)
def test_finish_reason(stop_reason: str | None, tool_calls: bool, expected: str) -> None:
    assert finish_reason(stop_reason, tool_calls=tool_calls) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"input_tokens": 12, "output_tokens": 30},
            {
                "prompt_tokens": 12,
                "completion_tokens": 30,
                "total_tokens": 42,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        ),
        (
            {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50, "output_tokens": 7},
            {
                "prompt_tokens": 160,
                "completion_tokens": 7,
                "total_tokens": 167,
                "prompt_tokens_details": {"cached_tokens": 100},
            },
        ),
        (
            {"input_tokens": 28, "output_tokens": 106, "output_tokens_details": {"thinking_tokens": 67}},
            {
                "prompt_tokens": 28,
                "completion_tokens": 106,
                "total_tokens": 134,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 67},
            },
        ),
        (
            {},
            {
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        ),
    ],
)
def test_usage(usage: dict[str, Any], expected: dict[str, Any]) -> None:
    got = to_usage(msgspec.convert(usage, wire.Usage))
    assert msgspec.to_builtins(got) == expected


def load(captures: Any, name: str) -> tuple[wire.Message, dict[str, Any]]:
    raw = captures.text(name)
    return wire.decode_message(raw), json.loads(raw)


@pytest.mark.parametrize(
    "name",
    [
        "anthropic--anthropic-text.json",
        "anthropic--anthropic-tool-no-args.json",
        "anthropic--anthropic-json-tool.1.json",
        "anthropic--anthropic-clear-thinking.1.json",
        "anthropic--anthropic-refusal.json",
        "anthropic--anthropic-refusal-no-details.json",
    ],
)
def test_choices_from_captures(captures: Any, name: str) -> None:
    message, body = load(captures, name)
    choice = to_choice(message)
    msg = choice.message
    texts = [b["text"] for b in body["content"] if b["type"] == "text"]
    assert msg.content == ("".join(texts) if texts else None)
    uses = [b for b in body["content"] if b["type"] == "tool_use"]
    if uses:
        assert isinstance(msg.tool_calls, list)
        assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls] == [
            (u["id"], u["name"], u["input"]) for u in uses
        ]
        assert choice.finish_reason == "tool_calls"
    else:
        assert msg.tool_calls is msgspec.UNSET
    thinking = [b for b in body["content"] if b["type"] == "thinking"]
    if thinking:
        assert msg.reasoning_content == "".join(b["thinking"] for b in thinking)
        assert msg.reasoning_details == [
            ReasoningDetail(
                type="reasoning.text", text=b["thinking"], signature=b["signature"], format=REASONING_FORMAT, index=i
            )
            for i, b in enumerate(thinking)
        ]
    else:
        assert msg.reasoning_content is msgspec.UNSET
    if body["stop_reason"] == "refusal":
        assert choice.finish_reason == "content_filter"
    usage = to_usage(message.usage)
    assert usage.prompt_tokens == body["usage"]["input_tokens"]
    assert usage.completion_tokens == body["usage"]["output_tokens"]


def test_tool_without_arguments_gives_empty_object(captures: Any) -> None:
    message, _ = load(captures, "anthropic--anthropic-tool-no-args.json")
    calls = to_choice(message).message.tool_calls
    assert isinstance(calls, list)
    assert calls[0].function.arguments == "{}"


def test_redacted_thinking_and_unknown_blocks() -> None:
    message = wire.decode_message(
        json.dumps(
            {
                "id": "msg_1",
                "model": "claude-sonnet-4-5",
                "content": [
                    {"type": "redacted_thinking", "data": "EmwKAhgB"},
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                    {"type": "text", "text": "Answer", "citations": []},
                ],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 2},
            }
        )
    )
    msg = to_choice(message).message
    assert msg.content == "Answer"
    assert msg.tool_calls is msgspec.UNSET
    assert msg.reasoning_content == "hm"
    assert msg.reasoning_details == [
        ReasoningDetail(type="reasoning.encrypted", data="EmwKAhgB", format=REASONING_FORMAT, index=0),
        ReasoningDetail(type="reasoning.text", text="hm", signature="sig", format=REASONING_FORMAT, index=1),
    ]


def test_combine_sums_usage_over_choices(captures: Any) -> None:
    a, _ = load(captures, "anthropic--anthropic-text.json")
    b, _ = load(captures, "anthropic--anthropic-clear-thinking.1.json")
    done = combine([a, b], created=1, model="fallback")
    assert [c.index for c in done.choices] == [0, 1]
    assert done.id == f"chatcmpl-{a.id}"
    assert done.model == a.model
    usage = msgspec.to_builtins(done.usage)
    assert usage == {
        "prompt_tokens": 12 + 69,
        "completion_tokens": 29 + 33,
        "total_tokens": 12 + 69 + 29 + 33,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [
        ("overloaded_error", UpstreamOverloaded, 503),
        ("rate_limit_error", UpstreamRateLimited, 429),
        ("api_error", UpstreamError, 502),
        ("invalid_request_error", UpstreamRejected, 400),
        ("request_too_large", UpstreamRejected, 413),
        ("not_found_error", UpstreamRejected, 404),
        ("authentication_error", UpstreamAuthError, 502),
        ("permission_error", UpstreamAuthError, 502),
        ("billing_error", UpstreamRateLimited, 429),
        ("timeout_error", UpstreamTimeout, 504),
        ("brand_new_error", UpstreamError, 502),
    ],
)
def test_error_types(error_type: str, cls: type[Exception], status: int) -> None:
    err = error_from_type(error_type, "upstream says no")
    assert type(err) is cls
    assert err.status == status
    assert "upstream says no" in err.message


def _error_body(error_type: str, message: str = "upstream says no") -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "r"}).encode()


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [
        ("overloaded_error", UpstreamOverloaded, 503),
        ("api_error", UpstreamError, 502),
        ("rate_limit_error", UpstreamRateLimited, 429),
        ("invalid_request_error", UpstreamRejected, 400),
        ("authentication_error", UpstreamAuthError, 502),
        ("timeout_error", UpstreamTimeout, 504),
        ("something_new", UpstreamError, 502),
    ],
)
def test_error_object_in_a_200(error_type: str, cls: type[Exception], status: int) -> None:
    """A 200 whose body is Anthropic's error object fails with its type's status, in every path."""
    for err in (message_error(wire.decode_message(_error_body(error_type))), body_error(_error_body(error_type))):
        assert type(err) is cls and err is not None
        assert err.status == status
        assert "upstream says no" in err.message and error_type in err.message
    with pytest.raises(cls):
        combine([wire.decode_message(_error_body(error_type))], created=1, model="m")


def test_error_object_without_details_and_real_messages(captures: Any) -> None:
    bare = b' {"type" : "error"}'
    for err in (message_error(wire.decode_message(bare)), body_error(bare)):
        assert type(err) is UpstreamError and err is not None and err.status == 502
    message = captures.text("anthropic--anthropic-text.json").encode()
    assert message_error(wire.decode_message(message)) is None
    assert body_error(message) is None
    assert body_error(b'{"id": "msg_1", "type": "message", "error": null}') is None


def test_model_entry_fills_from_family_table() -> None:
    m = model_entry(id="claude-sonnet-4-5-20250929", display_name="Claude Sonnet 4.5", created=5)
    assert (m.id, m.display_name, m.created, m.owned_by) == (
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        5,
        "anthropic",
    )
    assert (m.context_window, m.max_output_tokens) == (200_000, 64_000)
    caps = m.capabilities
    assert not isinstance(caps, msgspec.UnsetType)
    assert (caps.chat, caps.embeddings, caps.tools, caps.vision, caps.reasoning, caps.streaming) == (
        True,
        False,
        True,
        True,
        True,
        True,
    )


def test_model_entry_prefers_what_the_api_says() -> None:
    m = model_entry(
        id="claude-3-5-haiku-20241022",
        context_window=123,
        max_output_tokens=45,
        vision=False,
        reasoning=True,
        json_output=True,
    )
    assert (m.context_window, m.max_output_tokens) == (123, 45)
    caps = m.capabilities
    assert not isinstance(caps, msgspec.UnsetType)
    assert (caps.vision, caps.reasoning, caps.json_output) == (False, True, True)


def test_model_entry_unknown_family() -> None:
    m = model_entry(id="claude-next-9")
    assert m.context_window is msgspec.UNSET
    caps = m.capabilities
    assert not isinstance(caps, msgspec.UnsetType)
    assert caps.vision is msgspec.UNSET and caps.chat is True


def test_add_usage_sums_details() -> None:
    a = to_usage(
        msgspec.convert(
            {
                "input_tokens": 5,
                "cache_read_input_tokens": 2,
                "output_tokens": 9,
                "output_tokens_details": {"thinking_tokens": 4},
            },
            wire.Usage,
        )
    )
    b = to_usage(msgspec.convert({"input_tokens": 5, "output_tokens": 1}, wire.Usage))
    assert msgspec.to_builtins(add_usage(a, b)) == {
        "prompt_tokens": 12,
        "completion_tokens": 10,
        "total_tokens": 22,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 4},
    }


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-api-key": "corp-key-1"}, ("corp-key-1",)),
        ({"authorization": "Bearer tok-abc"}, ("tok-abc",)),
        ({"x-api-key": "k-12", "authorization": "Bearer t-34"}, ("k-12", "t-34")),
        ({"x-api-key": ""}, ()),
        ({"content-type": "application/json"}, ()),
    ],
)
def test_sent_credentials(headers: dict[str, str], expected: tuple[str, ...]) -> None:
    assert sent_credentials(headers) == expected


def test_scrub() -> None:
    assert scrub("key corp-key-1 refused (corp-key-1)", ("corp-key-1", "")) == "key [redacted] refused ([redacted])"
