"""Pure translation tables: requests out, chunks / completions / errors / models in (no I/O)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hexgate_openai.translate import (
    StreamNormaliser,
    ThinkSplitter,
    body_error,
    chat_payload,
    completion_from_wire,
    embeddings_payload,
    models_from_wire,
    split_think,
    status_error,
)
from hexgate_openai.wire import WireChunk, WireCompletion, WireErrorBody, WireModelList

from hexgate.errors import (
    HexgateError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from hexgate.schemas.chat import ChatCompletionRequest, ChatMessage
from hexgate.schemas.embeddings import EmbeddingRequest
from hexgate.testing import check_stream

chunk_decoder = msgspec.json.Decoder(WireChunk)


def normalise(payloads: list[dict[str, Any]], *, think_tags: bool = False) -> list[dict[str, Any]]:
    """Feed upstream chunk dicts through a StreamNormaliser; the chunks it yields, as dicts."""
    normaliser = StreamNormaliser(model="m", think_tags=think_tags)
    out = [normaliser.feed(chunk_decoder.decode(msgspec.json.encode(p))) for p in payloads]
    out.append(normaliser.finish())
    return [msgspec.to_builtins(c) for c in out if c is not None]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": choices, **extra}


# ---------------------------------------------------------------- <think> splitting

THINK = "<think>\nweigh the options</think>\n\nThe answer is 42."


@pytest.mark.parametrize("cut", range(len(THINK) + 1))
def test_think_tags_split_at_any_boundary(cut: int) -> None:
    splitter = ThinkSplitter()
    pieces = [splitter.feed(THINK[:cut]), splitter.feed(THINK[cut:]), splitter.flush()]
    assert "".join(p[0] for p in pieces) == "The answer is 42."
    assert "".join(p[1] for p in pieces) == "weigh the options"


def test_think_tags_one_character_at_a_time() -> None:
    splitter = ThinkSplitter()
    pieces = [splitter.feed(ch) for ch in THINK] + [splitter.flush()]
    assert "".join(p[0] for p in pieces) == "The answer is 42."
    assert "".join(p[1] for p in pieces) == "weigh the options"


@pytest.mark.parametrize(
    ("text", "content", "reasoning"),
    [
        ("plain answer", "plain answer", ""),
        ("a < b and b <thin ice", "a < b and b <thin ice", ""),
        ("ends with <thi", "ends with <thi", ""),
        ("<think>unfinished", "", "unfinished"),
        ("<think></think>only answer", "only answer", ""),
        ("<think>a</think>b<think>c</think>d", "bd", "ac"),
    ],
)
def test_split_think_table(text: str, content: str, reasoning: str) -> None:
    assert split_think(text) == (content, reasoning)


def test_think_tags_in_a_stream_move_to_reasoning_content() -> None:
    pieces = ["<thi", "nk>\nLet me", " think.</th", "ink>\n\nHel", "lo", "!"]
    payloads = [chunk({"role": "assistant", "content": ""})]
    payloads += [chunk({"content": p}) for p in pieces]
    payloads.append(chunk({"content": ""}, "stop"))
    out = normalise(payloads, think_tags=True)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in out) == "Hello!"
    assert "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in out) == "Let me think."
    assert not check_stream(out)


def test_think_tags_off_leave_content_alone() -> None:
    out = normalise([chunk({"role": "assistant", "content": "<think>x</think>y"}, "stop")])
    assert out[0]["choices"][0]["delta"]["content"] == "<think>x</think>y"


# ---------------------------------------------------------------- reasoning names, tool calls, usage


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "mull"},  # DeepSeek
        {"reasoning": "mull"},  # Ollama /v1, vLLM
        {"reasoning_details": [{"type": "reasoning.text", "text": "mull", "format": "MiniMax-response-v1"}]},
        {"reasoning_content": None, "reasoning": "mull", "content": None},
    ],
)
def test_reasoning_field_names_become_reasoning_content(delta: dict[str, Any]) -> None:
    out = normalise([chunk({"role": "assistant", **delta}), chunk({}, "stop")])
    assert out[0]["choices"][0]["delta"]["reasoning_content"] == "mull"
    assert "content" not in out[0]["choices"][0]["delta"]  # a null content is omitted, not sent as null
    message = {"role": "assistant", "content": "ok", **delta}
    wire = msgspec.convert({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}, WireCompletion)
    assert completion_from_wire(wire, model="m").choices[0].message.reasoning_content == "mull"


def test_minimax_reasoning_details_are_kept_for_the_next_turn() -> None:
    details = [{"type": "reasoning.text", "id": "r1", "text": "mull", "format": "MiniMax-response-v1", "index": 0}]
    out = normalise([chunk({"role": "assistant", "reasoning_details": details}, "stop")])
    assert out[0]["choices"][0]["delta"]["reasoning_details"] == details


def test_tool_call_continuations_carry_only_arguments() -> None:
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    again = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city"'}}
    rest = {"index": 0, "id": None, "type": None, "function": {"name": None, "arguments": ': "Oslo"}'}}
    out = normalise(
        [
            chunk({"role": "assistant", "tool_calls": [first]}),
            chunk({"tool_calls": [again]}),
            chunk({"tool_calls": [rest]}),
            chunk({}, "tool_calls"),
        ]
    )
    assert not check_stream(out)
    calls = [call for c in out for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[1] == {"index": 0, "function": {"arguments": '{"city"'}}
    assert "".join(c["function"]["arguments"] for c in calls) == '{"city": "Oslo"}'


def test_tool_calls_without_index_and_with_object_arguments() -> None:
    # Gemini-compatible servers send whole calls without an index; some servers send arguments as an object.
    a = {"id": "call_a", "function": {"name": "one", "arguments": {"x": 1}}}
    b = {"id": "call_b", "function": {"name": "two", "arguments": "{}"}}
    out = normalise([chunk({"role": "assistant", "tool_calls": [a]}), chunk({"tool_calls": [b]}, "tool_calls")])
    assert not check_stream(out)
    calls = [call for c in out for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(c["index"], c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "call_a", "one", '{"x":1}'),
        (1, "call_b", "two", "{}"),
    ]


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


@pytest.mark.parametrize(
    "payloads",
    [
        # usage on the final content chunk (DeepSeek)
        [chunk({"role": "assistant", "content": "Hi"}, usage=None), chunk({"content": "!"}, "stop", usage=USAGE)],
        # a separate choices-less chunk (OpenAI with include_usage)
        [chunk({"role": "assistant", "content": "Hi"}), chunk({"content": "!"}, "stop"), chunk(None, usage=USAGE)],
        # usage on every chunk, growing (vLLM continuous usage stats)
        [
            chunk({"role": "assistant", "content": "Hi"}, usage={**USAGE, "completion_tokens": 1, "total_tokens": 6}),
            chunk({"content": "!"}, "stop", usage=USAGE),
        ],
    ],
)
def test_usage_wherever_the_upstream_puts_it(payloads: list[dict[str, Any]]) -> None:
    out = normalise(payloads)
    usages = [c["usage"] for c in out if c.get("usage")]
    assert usages[-1] == USAGE
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in out if c["choices"]) == "Hi!"


def test_one_id_for_the_whole_stream_and_empty_chunks_dropped() -> None:
    out = normalise(
        [
            chunk({"role": "assistant", "content": ""}),
            {**chunk({"content": "a"}), "id": "other"},
            chunk({}),  # nothing in it
            chunk(None),  # no choices, no usage (Azure's prompt filter chunk)
            chunk({}, "stop"),
        ]
    )
    assert len(out) == 3
    assert {c["id"] for c in out} == {"c1"}


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ({"error": {"message": "slow down", "type": "rate_limit_error"}}, UpstreamRateLimited, 429),
        ({"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}, None, 429),
        ({"error": {"message": "bad", "type": "invalid_request_error", "param": "x"}}, UpstreamRejected, 400),
        ({"error": {"code": 500, "message": "llama.cpp failed", "type": "server_error"}}, UpstreamError, 502),
        ({"error": {"code": 503, "message": "loading model"}}, UpstreamOverloaded, 503),
        ({"error": "model crashed"}, UpstreamError, 502),  # Ollama
        ({"error": {"message": "took too long", "type": "timeout_error"}}, UpstreamTimeout, 504),
        ({"base_resp": {"status_code": 1002, "status_msg": "rate limit"}}, UpstreamRateLimited, 429),
        ({"base_resp": {"status_code": 1004, "status_msg": "login fail"}}, UpstreamAuthError, 502),
        ({"base_resp": {"status_code": 1008, "status_msg": "insufficient balance"}}, UpstreamRateLimited, 429),
        ({"base_resp": {"status_code": 2013, "status_msg": "invalid params"}}, UpstreamRejected, 400),
    ],
)
def test_errors_sent_with_status_200(body: dict[str, Any], kind: type[HexgateError] | None, status: int) -> None:
    parsed = msgspec.convert(body, WireErrorBody)
    error = body_error(parsed.error, parsed.base_resp)
    assert error is not None
    assert error.status == status
    if kind is not None:
        assert type(error) is kind


def test_minimax_success_is_not_an_error() -> None:
    assert (
        body_error(None, msgspec.convert({"status_code": 0, "status_msg": "success"}, WireErrorBody).base_resp) is None
    )


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, b'{"error":{"message":"max_tokens is too large","type":"invalid_request_error"}}', "max_tokens is too"),
        (404, b'{"error":"model \'x\' not found"}', "model 'x' not found"),
        (422, b'{"detail":[{"loc":["body","messages"],"msg":"field required"}]}', "field required"),
        (500, b'{"message":"internal"}', "internal"),
        (502, b"<html><body>Bad gateway</body></html>", "the upstream answered HTTP 502"),
        (400, b'{"base_resp":{"status_code":2013,"status_msg":"invalid params"}}', "invalid params"),
    ],
)
def test_status_error_keeps_the_upstream_message(status: int, body: bytes, message: str) -> None:
    assert message in status_error(status, body).message


def test_status_error_never_carries_our_key() -> None:
    body = b'{"error":{"message":"Incorrect API key provided: test-key-000123. Find yours elsewhere."}}'
    error = status_error(401, body, secret="test-key-000123")
    assert isinstance(error, UpstreamAuthError)
    assert "test-key-000123" not in error.message and "Incorrect API key" in error.message


def test_rate_limit_status_carries_retry_after_header() -> None:
    error = status_error(429, b'{"error":{"message":"Rate limit reached"}}', retry_after=7.0)
    assert isinstance(error, UpstreamRateLimited)
    assert error.headers == {"retry-after": "7"} and error.status == 429


# ---------------------------------------------------------------- requests out

REQUEST = ChatCompletionRequest(model="up/gpt-x", messages=[ChatMessage(role="user", content="hi")])


def test_client_body_passes_through_with_the_model_replaced() -> None:
    body = (
        b'{"model":"up/gpt-x","messages":[{"role":"user","content":"hi"}],'
        b'"verbosity":"low","thinking":{"type":"enabled"}}'
    )
    payload = chat_payload(REQUEST, body=body, model="gpt-x", stream=False, stream_usage=True)
    assert payload == {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "hi"}],
        "verbosity": "low",
        "thinking": {"type": "enabled"},
    }


@pytest.mark.parametrize(
    ("client_options", "stream_usage", "expected"),
    [
        (None, True, {"include_usage": True}),
        (
            {"include_usage": False, "include_obfuscation": False},
            True,
            {"include_usage": True, "include_obfuscation": False},
        ),
        ({"include_usage": True}, False, None),
    ],
)
def test_streaming_asks_for_usage(client_options: Any, stream_usage: bool, expected: Any) -> None:
    body: dict[str, Any] = {"model": "up/gpt-x", "messages": [], "stream": True}
    if client_options is not None:
        body["stream_options"] = client_options
    payload = chat_payload(
        REQUEST, body=msgspec.json.encode(body), model="gpt-x", stream=True, stream_usage=stream_usage
    )
    assert payload["stream"] is True
    assert payload.get("stream_options") == expected


def test_core_built_request_is_encoded_from_the_struct() -> None:
    payload = chat_payload(REQUEST, body=None, model="gpt-x", stream=False, stream_usage=True)
    assert payload == {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}


def test_non_streamed_call_drops_stream_options() -> None:
    body = b'{"model":"a","messages":[],"stream":false,"stream_options":{"include_usage":true}}'
    payload = chat_payload(REQUEST, body=body, model="gpt-x", stream=False, stream_usage=True)
    assert "stream" not in payload and "stream_options" not in payload


@pytest.mark.parametrize(("floats_only", "expected"), [(False, "base64"), (True, None)])
def test_embeddings_encoding_format(floats_only: bool, expected: str | None) -> None:
    request = EmbeddingRequest(model="up/e", input="x", encoding_format="base64")
    body = b'{"model":"up/e","input":"x","encoding_format":"base64","dimensions":8}'
    payload = embeddings_payload(request, body=body, model="e", floats_only=floats_only)
    assert payload.get("encoding_format") == expected
    assert payload["model"] == "e" and payload["dimensions"] == 8


# ---------------------------------------------------------------- models


HF_MODELS = {
    "object": "list",
    "data": [
        {
            "id": "openai/gpt-oss-120b",
            "object": "model",
            "created": 1754000000,
            "owned_by": "openai",
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            "providers": [
                {
                    "provider": "fireworks-ai",
                    "status": "live",
                    "context_length": 131072,
                    "supports_tools": True,
                    "supports_structured_output": False,
                    "pricing": {"input": 0.15, "output": 0.6},
                },
                {"provider": "groq", "status": "live", "context_length": 65536, "supports_tools": False},
                {"provider": "old", "status": "error", "context_length": 999999, "supports_tools": False},
            ],
        },
        {
            "id": "Qwen/Qwen2.5-VL-7B-Instruct",
            "object": "model",
            "owned_by": "Qwen",
            "architecture": {"input_modalities": ["text", "image"], "output_modalities": ["text"]},
            "providers": [{"provider": "hyperbolic", "status": "live", "context_length": 32768}],
        },
        {"id": "served-by-vllm", "object": "model", "owned_by": "vllm", "max_model_len": 8192},
        {"id": "bare", "object": "model"},
    ],
}


def test_models_capability_metadata() -> None:
    models = {m.id: m for m in models_from_wire(msgspec.convert(HF_MODELS, WireModelList))}
    gpt = models["openai/gpt-oss-120b"]
    assert gpt.context_window == 131072 and gpt.owned_by == "openai" and gpt.created == 1754000000
    assert msgspec.to_builtins(gpt.capabilities) == {"chat": True, "tools": True, "json_output": False, "vision": False}
    qwen = models["Qwen/Qwen2.5-VL-7B-Instruct"]
    assert qwen.context_window == 32768
    assert msgspec.to_builtins(qwen.capabilities) == {"chat": True, "vision": True}
    assert models["served-by-vllm"].context_window == 8192
    assert msgspec.to_builtins(models["bare"]) == {"id": "bare", "created": 0, "owned_by": "hexgate", "object": "model"}
