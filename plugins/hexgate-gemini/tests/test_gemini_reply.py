"""Gemini answer → OpenAI completion and stream chunks: one table per mapping (reply.py, pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from google.genai import types
from hexgate_gemini import signatures
from hexgate_gemini.reply import StreamTranslator, add_usage, finish_reason, to_completion, to_logprobs, to_usage

from hexgate.schemas.chat import ChatCompletionChunk
from hexgate.testing import check_stream

SIG = base64.b64encode(b"sig-bytes\x00\xff").decode()


def response(*candidates: dict[str, Any], **top: Any) -> types.GenerateContentResponse:
    """A response parsed from REST JSON (camelCase, base64 bytes), as the SDK sees it."""
    body = {"candidates": list(candidates), **top}
    return types.GenerateContentResponse.model_validate_json(json.dumps(body))


def candidate(*parts: dict[str, Any], finish: str | None = None, index: int | None = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish:
        out["finishReason"] = finish
    if index is not None:
        out["index"] = index
    return out


def call(name: str, args: dict[str, Any], *, signature: str | None = None, id: str | None = None) -> dict[str, Any]:
    fc: dict[str, Any] = {"name": name, "args": args}
    if id:
        fc["id"] = id
    part: dict[str, Any] = {"functionCall": fc}
    if signature:
        part["thoughtSignature"] = signature
    return part


def plain(chunks: list[ChatCompletionChunk]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(c) for c in chunks]


# ---------------------------------------------------------------- finish reasons and usage

FINISH_CASES = [
    (None, False, "stop"),
    ("STOP", False, "stop"),
    ("STOP", True, "tool_calls"),
    (None, True, "tool_calls"),
    ("MAX_TOKENS", False, "length"),
    ("MAX_TOKENS", True, "length"),
    *[
        (r, False, "content_filter")
        for r in (
            "SAFETY",
            "RECITATION",
            "LANGUAGE",
            "OTHER",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_OTHER",
            "IMAGE_RECITATION",
        )
    ],
    ("MALFORMED_FUNCTION_CALL", False, "stop"),
    ("UNEXPECTED_TOOL_CALL", False, "stop"),
    ("TOO_MANY_TOOL_CALLS", True, "tool_calls"),
    ("FINISH_REASON_UNSPECIFIED", False, "stop"),
    (types.FinishReason.MAX_TOKENS, False, "length"),
]


@pytest.mark.parametrize(("reason", "made_calls", "expected"), FINISH_CASES)
def test_finish_reason(reason: Any, made_calls: bool, expected: str) -> None:
    assert finish_reason(reason, made_calls=made_calls) == expected


USAGE_CASES = [
    pytest.param(
        {"promptTokenCount": 9, "candidatesTokenCount": 23, "thoughtsTokenCount": 302, "totalTokenCount": 334},
        (9, 325, 334, 0, 302),
        id="thoughts",
    ),
    pytest.param(
        {"promptTokenCount": 100, "candidatesTokenCount": 5, "cachedContentTokenCount": 60},
        (100, 5, 105, 60, 0),
        id="cached",
    ),
    pytest.param(
        {"promptTokenCount": 10, "toolUsePromptTokenCount": 4, "candidatesTokenCount": 1},
        (14, 1, 15, 0, 0),
        id="tool-use-prompt",
    ),
    pytest.param({"trafficType": "ON_DEMAND"}, None, id="no-counts"),
]


@pytest.mark.parametrize(("meta", "expected"), USAGE_CASES)
def test_usage(meta: dict[str, Any], expected: tuple[int, ...] | None) -> None:
    parsed = types.GenerateContentResponseUsageMetadata.model_validate(meta)
    usage = to_usage(parsed)
    if expected is None:
        assert usage is None
        return
    assert usage is not None
    details = msgspec.to_builtins(usage)
    got = (
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens,
        details["prompt_tokens_details"]["cached_tokens"],
        details["completion_tokens_details"]["reasoning_tokens"],
    )
    assert got == expected


def test_add_usage() -> None:
    a = to_usage(types.GenerateContentResponseUsageMetadata(prompt_token_count=3, candidates_token_count=2))
    b = to_usage(types.GenerateContentResponseUsageMetadata(prompt_token_count=3, thoughts_token_count=5))
    total = add_usage(a, b)
    assert total is not None
    assert (total.prompt_tokens, total.completion_tokens, total.total_tokens) == (6, 7, 13)
    assert add_usage(None, a) is a


# ---------------------------------------------------------------- non-stream


def test_completion_text_reasoning_and_text_signature() -> None:
    answer = response(
        candidate(
            {"text": "Let me count.", "thought": True},
            {"text": "Three."},
            {"text": "", "thoughtSignature": SIG},
            finish="STOP",
        ),
        usageMetadata={"promptTokenCount": 2, "candidatesTokenCount": 1, "thoughtsTokenCount": 4},
        modelVersion="gemini-3-pro-preview",
        responseId="abc",
    )
    got = msgspec.to_builtins(to_completion(answer, model="fallback", created=1))
    assert got["id"] == "chatcmpl-abc"
    assert got["model"] == "gemini-3-pro-preview"
    assert got["object"] == "chat.completion"
    assert got["choices"] == [
        {
            "index": 0,
            "message": {
                "content": "Three.",
                "role": "assistant",
                "reasoning_content": "Let me count.",
                "reasoning_details": [{"type": "reasoning.encrypted", "data": SIG, "format": "google-gemini-v1"}],
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert got["usage"]["completion_tokens"] == 5


def test_completion_tool_calls_have_distinct_ids_and_carry_signatures() -> None:
    answer = response(
        candidate(
            call("weather", {"city": "Paris"}, signature=SIG),
            call("weather", {"city": "Rome"}),
            call("clock", {}, id="g-1"),
            finish="STOP",
        )
    )
    choice = to_completion(answer, model="m", created=1).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("weather", {"city": "Paris"}),
        ("weather", {"city": "Rome"}),
        ("clock", {}),
    ]
    ids = [c.id for c in calls]
    assert len(set(ids)) == 3
    assert signatures.split_id(ids[0]) == (ids[0].split("__thought__")[0], base64.b64decode(SIG))
    assert ids[1].startswith("call_") and "__thought__" not in ids[1]
    assert ids[2] == "g-1"


def test_completion_parallel_tool_calls_false_keeps_the_first_call() -> None:
    answer = response(candidate(call("a", {}), call("b", {}), finish="STOP"))
    calls = to_completion(answer, model="m", created=1, parallel_tool_calls=False).choices[0].message.tool_calls
    assert [c.function.name for c in calls or []] == ["a"]


def test_completion_several_candidates() -> None:
    answer = response(
        candidate({"text": "one"}, finish="STOP", index=0), candidate({"text": "two"}, finish="MAX_TOKENS", index=1)
    )
    choices = to_completion(answer, model="m", created=1, index_offset=2).choices
    assert [(c.index, c.message.content, c.finish_reason) for c in choices] == [
        (2, "one", "stop"),
        (3, "two", "length"),
    ]


BLOCKED_CASES = [
    pytest.param({"promptFeedback": {"blockReason": "SAFETY"}}, "content_filter", id="prompt-blocked"),
    pytest.param({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, "content_filter", id="prohibited"),
    pytest.param({}, "stop", id="empty"),
]


@pytest.mark.parametrize(("top", "expected"), BLOCKED_CASES)
def test_completion_without_candidates(top: dict[str, Any], expected: str) -> None:
    body = types.GenerateContentResponse.model_validate(top)
    [choice] = to_completion(body, model="m", created=1).choices
    assert (choice.message.content, choice.finish_reason) == (None, expected)


def test_completion_safety_stop_without_content() -> None:
    answer = response({"finishReason": "SAFETY", "index": 0})
    [choice] = to_completion(answer, model="m", created=1).choices
    assert (choice.message.content, choice.finish_reason) == (None, "content_filter")


# ---------------------------------------------------------------- stream


def test_stream_calls_get_distinct_indexes_in_one_delta_each() -> None:
    t = StreamTranslator(model="m", created=1)
    chunks = t.feed(response(candidate({"text": "Checking"})))
    chunks += t.feed(response(candidate(call("a", {"x": 1}, signature=SIG), call("b", {"y": [1, 2]}))))
    chunks += t.feed(
        response(
            candidate({"text": ""}, finish="STOP"),
            usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 4},
        )
    )
    chunks += t.close()
    raw = plain(chunks)
    assert (
        check_stream([{**raw[0], "choices": [{**raw[0]["choices"][0], "delta": {"role": "assistant"}}]}, *raw[1:]])
        == []
    )
    deltas = [c["choices"][0]["delta"] for c in raw]
    assert deltas[0] == {"content": "Checking"}
    first, second = deltas[1]["tool_calls"][0], deltas[2]["tool_calls"][0]
    assert (first["index"], first["type"], first["function"]) == (0, "function", {"name": "a", "arguments": '{"x":1}'})
    assert (second["index"], second["function"]) == (1, {"name": "b", "arguments": '{"y":[1,2]}'})
    assert signatures.split_id(first["id"])[1] == base64.b64decode(SIG)
    assert raw[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert raw[-1]["usage"]["total_tokens"] == 7
    assert all("usage" not in c for c in raw[:-1])
    assert {c["id"] for c in raw} == {raw[0]["id"]}


def test_stream_usage_is_the_last_counted_one() -> None:
    t = StreamTranslator(model="m", created=1)
    t.feed(response(candidate({"text": "a"}), usageMetadata={"promptTokenCount": 9, "candidatesTokenCount": 1}))
    t.feed(
        response(
            candidate({"text": "b"}, finish="STOP"), usageMetadata={"promptTokenCount": 9, "candidatesTokenCount": 2}
        )
    )
    t.feed(response(usageMetadata={"trafficType": "ON_DEMAND"}))
    last = t.close()[-1]
    assert last.usage is not None and last.usage.completion_tokens == 2


def test_stream_thoughts_and_signature_details() -> None:
    t = StreamTranslator(model="m", created=1)
    chunks = t.feed(response(candidate({"text": "hmm", "thought": True}, {"text": "A", "thoughtSignature": SIG})))
    deltas = [msgspec.to_builtins(c.choices[0].delta) for c in chunks]
    assert deltas == [
        {"reasoning_content": "hmm"},
        {
            "content": "A",
            "reasoning_details": [{"type": "reasoning.encrypted", "data": SIG, "format": "google-gemini-v1"}],
        },
    ]


def test_stream_pieces_of_a_call_are_assembled() -> None:
    """Vertex ``streamFunctionCallArguments``: name + willContinue, partialArgs by JSON path, then an empty end."""
    t = StreamTranslator(model="m", created=1)
    pieces = [
        {"functionCall": {"name": "plan", "willContinue": True}, "thoughtSignature": SIG},
        {
            "functionCall": {
                "partialArgs": [{"jsonPath": "$.city", "stringValue": "San ", "willContinue": True}],
                "willContinue": True,
            }
        },
        {"functionCall": {"partialArgs": [{"jsonPath": "$.city", "stringValue": "Francisco"}], "willContinue": True}},
        {"functionCall": {"partialArgs": [{"jsonPath": "$.days", "numberValue": 3}], "willContinue": True}},
        {"functionCall": {"partialArgs": [{"jsonPath": "$.opts.metric", "boolValue": True}], "willContinue": True}},
        {"functionCall": {"partialArgs": [{"jsonPath": "$.stops[1]", "stringValue": "LA"}], "willContinue": True}},
        {"functionCall": {"partialArgs": [{"jsonPath": "$.note", "nullValue": "NULL_VALUE"}], "willContinue": True}},
        {"functionCall": {}},
    ]
    chunks: list[ChatCompletionChunk] = []
    for piece in pieces:
        chunks += t.feed(response(candidate(piece)))
    assert len(chunks) == 1
    [delta] = msgspec.to_builtins(chunks[0].choices[0].delta)["tool_calls"]
    assert delta["function"]["name"] == "plan"
    assert json.loads(delta["function"]["arguments"]) == {
        "city": "San Francisco",
        "days": 3,
        "opts": {"metric": True},
        "stops": [None, "LA"],
        "note": None,
    }
    assert signatures.split_id(delta["id"])[1] == base64.b64decode(SIG)


def test_stream_unfinished_piecewise_call_is_flushed_on_close() -> None:
    t = StreamTranslator(model="m", created=1)
    t.feed(response(candidate({"functionCall": {"name": "f", "willContinue": True}})))
    closing = plain(t.close())
    assert closing[0]["choices"][0]["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert closing[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_several_candidates_and_offset() -> None:
    t = StreamTranslator(model="m", created=1, index_offset=1)
    chunks = t.feed(response(candidate({"text": "x"}, index=0), candidate({"text": "y"}, index=1, finish="MAX_TOKENS")))
    chunks += t.close()
    got = [(c.choices[0].index, c.choices[0].delta.content, c.choices[0].finish_reason) for c in chunks]
    assert sorted(got, key=str) == sorted(
        [(1, "x", None), (2, "y", None), (1, msgspec.UNSET, "stop"), (2, msgspec.UNSET, "length")], key=str
    )


def test_stream_blocked_prompt() -> None:
    t = StreamTranslator(model="m", created=1)
    assert t.feed(types.GenerateContentResponse.model_validate({"promptFeedback": {"blockReason": "SAFETY"}})) == []
    [chunk] = t.close()
    assert chunk.choices[0].finish_reason == "content_filter"


# ---------------------------------------------------------------- logprobs

LOGPROBS = {
    "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "é", "logProbability": -1.5}],
    "topCandidates": [
        {"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Hello", "logProbability": -2.5}]},
        {"candidates": [{"token": "é", "logProbability": -1.5}]},
    ],
}
OPENAI_LOGPROBS = {
    "content": [
        {
            "token": "Hi",
            "logprob": -0.1,
            "bytes": [72, 105],
            "top_logprobs": [
                {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                {"token": "Hello", "logprob": -2.5, "bytes": [72, 101, 108, 108, 111]},
            ],
        },
        {
            "token": "é",
            "logprob": -1.5,
            "bytes": [195, 169],
            "top_logprobs": [{"token": "é", "logprob": -1.5, "bytes": [195, 169]}],
        },
    ],
    "refusal": None,
}


def test_logprobs_table() -> None:
    assert to_logprobs(types.LogprobsResult.model_validate(LOGPROBS)) == OPENAI_LOGPROBS
    assert to_logprobs(None) is None
    assert to_logprobs(types.LogprobsResult()) is None


def test_logprobs_on_completion_and_chunk() -> None:
    body = candidate({"text": "Hié"}, finish="STOP")
    body["logprobsResult"] = LOGPROBS
    assert to_completion(response(body), model="m", created=1).choices[0].logprobs == OPENAI_LOGPROBS
    [chunk] = StreamTranslator(model="m", created=1).feed(response(body))
    assert chunk.choices[0].logprobs == OPENAI_LOGPROBS
    assert chunk.choices[0].delta.content == "Hié"
