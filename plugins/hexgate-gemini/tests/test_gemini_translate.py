"""OpenAI request → Gemini request: one table per mapping (translate.py, pure)."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
from hexgate_gemini import signatures
from hexgate_gemini.settings import GeminiSettings
from hexgate_gemini.translate import FetchedImage, remote_images, thinking_config, to_gemini

from hexgate.errors import InvalidRequest
from hexgate.schemas.chat import ChatCompletionRequest

SETTINGS = GeminiSettings(api_key="test-key")
USER = {"role": "user", "content": "hi"}
PNG = base64.b64encode(b"\x89PNG fake").decode()


def request(**fields: Any) -> ChatCompletionRequest:
    fields.setdefault("messages", [USER])
    return msgspec.convert({"model": "gemini/x", **fields}, ChatCompletionRequest)


def dump(obj: Any) -> Any:
    return obj.model_dump(mode="json", exclude_none=True)


def contents(messages: list[dict[str, Any]], *, model: str = "gemini-2.5-flash", **kw: Any) -> list[Any]:
    call = to_gemini(request(messages=messages), model=model, settings=SETTINGS, **kw)
    return [dump(c) for c in call.contents]


def config(model: str = "gemini-2.5-flash", settings: GeminiSettings = SETTINGS, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = dump(to_gemini(request(**fields), model=model, settings=settings).config)
    return out


# ---------------------------------------------------------------- roles and turns

ROLE_CASES = [
    pytest.param([USER], [{"role": "user", "parts": [{"text": "hi"}]}], id="user"),
    pytest.param(
        [USER, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}],
        [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ],
        id="assistant-becomes-model",
    ),
    pytest.param(
        [USER, {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
        [{"role": "user", "parts": [{"text": "hi"}, {"text": "a"}, {"text": "b"}]}],
        id="consecutive-user-merged",
    ),
    pytest.param(
        [USER, {"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}],
        [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "x"}, {"text": "y"}]}],
        id="consecutive-assistant-merged",
    ),
    pytest.param(
        [{"role": "user", "content": ""}, USER, {"role": "assistant", "content": None}],
        [{"role": "user", "parts": [{"text": "hi"}]}],
        id="empty-messages-skipped",
    ),
]


@pytest.mark.parametrize(("messages", "expected"), ROLE_CASES)
def test_roles_and_merging(messages: list[dict[str, Any]], expected: list[Any]) -> None:
    assert contents(messages) == expected


def test_system_and_developer_become_system_instruction() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
    ]
    call = to_gemini(request(messages=messages), model="gemini-2.5-flash", settings=SETTINGS)
    assert dump(call.config.system_instruction) == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert [dump(c) for c in call.contents] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_only_system_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="at least one user or assistant message"):
        contents([{"role": "system", "content": "x"}])


# ---------------------------------------------------------------- content parts

PART_CASES = [
    pytest.param(
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"inline_data": {"mime_type": "image/png", "data": base64.urlsafe_b64encode(b"\x89PNG fake").decode()}},
        id="data-url-inline",
    ),
    pytest.param(
        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}},
        {"file_data": {"file_uri": "gs://bucket/cat.png", "mime_type": "image/png"}},
        id="gcs-file-data",
    ),
    pytest.param(
        {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
        {
            "file_data": {
                "file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                "mime_type": "image/jpeg",
            }
        },
        id="files-api-file-data",
    ),
    pytest.param(
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"inline_data": {"mime_type": "image/webp", "data": base64.urlsafe_b64encode(b"RIFFwebp").decode()}},
        id="http-url-fetched-inline",
    ),
    pytest.param(
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"WAV").decode(), "format": "wav"}},
        {"inline_data": {"mime_type": "audio/wav", "data": base64.urlsafe_b64encode(b"WAV").decode()}},
        id="input-audio",
    ),
    pytest.param(
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG}", "filename": "a.pdf"}},
        {"inline_data": {"mime_type": "application/pdf", "data": base64.urlsafe_b64encode(b"\x89PNG fake").decode()}},
        id="file-data-url",
    ),
]


@pytest.mark.parametrize(("part", "expected"), PART_CASES)
def test_user_parts(part: dict[str, Any], expected: dict[str, Any]) -> None:
    images = {"https://example.com/cat.jpg": FetchedImage("image/webp", b"RIFFwebp")}
    got = contents([{"role": "user", "content": [{"type": "text", "text": "look"}, part]}], images=images)
    assert got == [{"role": "user", "parts": [{"text": "look"}, expected]}]


def test_remote_images_lists_only_what_must_be_fetched() -> None:
    url = "https://example.com/a.png"
    parts = [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "gs://b/c.png"}},
        {"type": "image_url", "image_url": {"url": "http://example.org/b.gif"}},
    ]
    assert remote_images(request(messages=[{"role": "user", "content": parts}])) == [url, "http://example.org/b.gif"]


BAD_PARTS = [
    pytest.param(
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}, "data:<mime>;base64", id="no-b64"
    ),
    pytest.param(
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "invalid base64", id="bad-b64"
    ),
    pytest.param({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}, "http", id="ftp"),
    pytest.param(
        {"type": "image_url", "image_url": {"url": "https://example.com/missing.png"}}, "not fetched", id="unfetched"
    ),
    pytest.param({"type": "file", "file": {"file_id": "file-123"}}, "file ids", id="file-id"),
]


@pytest.mark.parametrize(("part", "message"), BAD_PARTS)
def test_bad_parts_are_400s_naming_the_field(part: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        contents([{"role": "user", "content": [part]}])
    assert caught.value.param is not None
    assert caught.value.param.startswith("messages[0].content[0]")


# ---------------------------------------------------------------- tool calls and results

SIG = b"\x12\x34opaque-signature\xff"


def test_tool_call_and_result_with_signature_from_the_id() -> None:
    call_id = signatures.join_id("call_abc", SIG)
    got = contents(
        [
            USER,
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    },
                    {"id": "call_def", "type": "function", "function": {"name": "time", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_def", "content": "noon"},
        ]
    )
    assert got[1] == {
        "role": "model",
        "parts": [
            {"text": "Checking."},
            {
                "function_call": {"name": "weather", "args": {"city": "Paris"}},
                "thought_signature": base64.urlsafe_b64encode(SIG).decode(),
            },
            {"function_call": {"name": "time", "args": {}}},
        ],
    }
    assert got[2] == {
        "role": "user",
        "parts": [
            {"function_response": {"name": "weather", "response": {"temp": 21}}},
            {"function_response": {"name": "time", "response": {"output": "noon"}}},
        ],
    }


def test_tool_result_followed_by_user_text_shares_the_user_turn() -> None:
    got = contents(
        [
            USER,
            {"role": "assistant", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "[1, 2]"},
            {"role": "user", "content": "and?"},
        ]
    )
    assert got[2] == {
        "role": "user",
        "parts": [{"function_response": {"name": "f", "response": {"output": "[1, 2]"}}}, {"text": "and?"}],
    }


def test_gemini_own_call_ids_go_back_synthetic_ones_do_not() -> None:
    got = contents(
        [
            USER,
            {"role": "assistant", "tool_calls": [{"id": "g-77", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "g-77", "content": "ok"},
        ]
    )
    assert got[1]["parts"][0]["function_call"]["id"] == "g-77"
    assert got[2]["parts"][0]["function_response"]["id"] == "g-77"


def test_legacy_function_message() -> None:
    got = contents([USER, {"role": "function", "name": "f", "content": "done"}])
    assert got == [
        {
            "role": "user",
            "parts": [{"text": "hi"}, {"function_response": {"name": "f", "response": {"output": "done"}}}],
        }
    ]


BAD_TOOL_HISTORY = [
    pytest.param(
        [USER, {"role": "tool", "tool_call_id": "call_zzz", "content": "x"}], "matches no tool call", id="unknown-id"
    ),
    pytest.param(
        [
            USER,
            {"role": "assistant", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{nope"}}]},
        ],
        "not valid JSON",
        id="bad-arguments",
    ),
    pytest.param(
        [USER, {"role": "assistant", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "[1]"}}]}],
        "JSON object",
        id="array-arguments",
    ),
]


@pytest.mark.parametrize(("messages", "message"), BAD_TOOL_HISTORY)
def test_bad_tool_history(messages: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        contents(messages)


SIGNATURE_FALLBACK_CASES = [
    pytest.param("gemini-3-pro-preview", "skip_thought_signature_validator", id="gemini-3-gets-stand-in"),
    pytest.param("gemini-2.5-flash", None, id="gemini-2-untouched"),
]


@pytest.mark.parametrize(("model", "expected"), SIGNATURE_FALLBACK_CASES)
def test_missing_signature_stand_in(model: str, expected: str | None) -> None:
    history = [
        USER,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "function": {"name": "f", "arguments": "{}"}},
                {"id": "call_2", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
    ]
    parts = contents(history, model=model)[1]["parts"]
    assert parts[0].get("thought_signature") == expected
    assert "thought_signature" not in parts[1]  # only the first call of a step carries one


def test_text_signature_from_reasoning_details() -> None:
    details = [
        {"type": "reasoning.encrypted", "data": base64.b64encode(SIG).decode(), "format": "google-gemini-v1"},
        {"type": "reasoning.encrypted", "data": "QUJD", "format": "anthropic-claude-v1"},
    ]
    got = contents([USER, {"role": "assistant", "content": "Three.", "reasoning_details": details}])
    assert got[1] == {
        "role": "model",
        "parts": [{"text": "Three.", "thought_signature": base64.urlsafe_b64encode(SIG).decode()}],
    }


# ---------------------------------------------------------------- tools, tool_choice, response_format

TOOLS = [
    {"type": "function", "function": {"name": "weather", "description": "d", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "time"}},
]

TOOL_CHOICE_CASES = [
    pytest.param("auto", {"mode": "AUTO"}, id="auto"),
    pytest.param("none", {"mode": "NONE"}, id="none"),
    pytest.param("required", {"mode": "ANY"}, id="required"),
    pytest.param(
        {"type": "function", "function": {"name": "time"}},
        {"mode": "ANY", "allowed_function_names": ["time"]},
        id="named",
    ),
]


@pytest.mark.parametrize(("choice", "expected"), TOOL_CHOICE_CASES)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    got = config(tools=TOOLS, tool_choice=choice)
    assert got["tool_config"] == {"function_calling_config": expected}
    assert got["tools"] == [
        {
            "function_declarations": [
                {"name": "weather", "description": "d", "parameters_json_schema": {"type": "object"}},
                {"name": "time"},
            ]
        }
    ]
    assert got["automatic_function_calling"]["disable"] is True


def test_tool_choice_needs_known_tool() -> None:
    with pytest.raises(InvalidRequest, match="not in 'tools'"):
        config(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}})
    with pytest.raises(InvalidRequest, match="needs 'tools'"):
        config(tool_choice="required")


RESPONSE_FORMAT_CASES = [
    pytest.param({"type": "text"}, {}, id="text"),
    pytest.param({"type": "json_object"}, {"response_mime_type": "application/json"}, id="json-object"),
    pytest.param(
        {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object", "properties": {}}}},
        {"response_mime_type": "application/json", "response_json_schema": {"type": "object", "properties": {}}},
        id="json-schema",
    ),
]


@pytest.mark.parametrize(("fmt", "expected"), RESPONSE_FORMAT_CASES)
def test_response_format(fmt: dict[str, Any], expected: dict[str, Any]) -> None:
    got = config(response_format=fmt)
    assert {k: got[k] for k in ("response_mime_type", "response_json_schema") if k in got} == expected


# ---------------------------------------------------------------- sampling and limits

SAMPLING_CASES = [
    pytest.param({"temperature": 0.3}, {"temperature": 0.3}, id="temperature"),
    pytest.param({"top_p": 0.9}, {"top_p": 0.9}, id="top_p"),
    pytest.param({"top_k": 40}, {"top_k": 40.0}, id="top_k"),
    pytest.param({"seed": 7}, {"seed": 7}, id="seed"),
    pytest.param({"presence_penalty": 0.5}, {"presence_penalty": 0.5}, id="presence"),
    pytest.param({"frequency_penalty": -0.5}, {"frequency_penalty": -0.5}, id="frequency"),
    pytest.param({"max_tokens": 100}, {"max_output_tokens": 100}, id="max_tokens"),
    pytest.param({"max_tokens": 100, "max_completion_tokens": 50}, {"max_output_tokens": 50}, id="max_completion"),
    pytest.param({"stop": "END"}, {"stop_sequences": ["END"]}, id="stop-string"),
    pytest.param({"stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}, id="stop-list"),
    pytest.param({"n": 3}, {"candidate_count": 3}, id="n-candidates"),
    pytest.param({"n": 1}, {}, id="n-one"),
    pytest.param({"logprobs": True}, {"response_logprobs": True}, id="logprobs"),
    pytest.param({"logprobs": True, "top_logprobs": 3}, {"response_logprobs": True, "logprobs": 3}, id="top-logprobs"),
    pytest.param({"logprobs": False, "top_logprobs": 3}, {}, id="logprobs-off"),
]


@pytest.mark.parametrize(("fields", "expected"), SAMPLING_CASES)
def test_sampling(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    got = config(**fields)
    got.pop("automatic_function_calling")
    assert got == expected


def test_n_by_fan_out_sends_one_candidate() -> None:
    fan_out = msgspec.structs.replace(SETTINGS, n_strategy="fan_out")
    assert "candidate_count" not in config(settings=fan_out, n=3)


REFUSED = [
    pytest.param({"logit_bias": {"1": 2.0}}, "logit_bias", id="logit-bias"),
    pytest.param({"stop": ["1", "2", "3", "4", "5", "6"]}, "stop", id="six-stops"),
    pytest.param({"reasoning_effort": "maximum"}, "reasoning_effort", id="bad-effort"),
]


@pytest.mark.parametrize(("fields", "param"), REFUSED)
def test_refused(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        config(**fields)
    assert caught.value.param == param


# ---------------------------------------------------------------- reasoning

THINKING_CASES = [
    pytest.param("gemini-2.5-flash", None, None, id="unset"),
    pytest.param("gemini-2.5-flash", "none", {"include_thoughts": False, "thinking_budget": 0}, id="2.5-none"),
    pytest.param("gemini-2.5-flash", "minimal", {"include_thoughts": True, "thinking_budget": 128}, id="2.5-minimal"),
    pytest.param("gemini-2.5-pro", "low", {"include_thoughts": True, "thinking_budget": 1024}, id="2.5-low"),
    pytest.param("gemini-2.5-pro", "medium", {"include_thoughts": True, "thinking_budget": 8192}, id="2.5-medium"),
    pytest.param("gemini-2.5-pro", "high", {"include_thoughts": True, "thinking_budget": 24576}, id="2.5-high"),
    pytest.param("gemini-3-pro-preview", "low", {"include_thoughts": True, "thinking_level": "LOW"}, id="3-low"),
    pytest.param("gemini-3-pro-preview", "high", {"include_thoughts": True, "thinking_level": "HIGH"}, id="3-high"),
    pytest.param("gemini-3-flash", "none", {"include_thoughts": False, "thinking_level": "MINIMAL"}, id="3-none"),
    pytest.param("models/gemini-3-flash", "xhigh", {"include_thoughts": True, "thinking_level": "HIGH"}, id="3-xhigh"),
]


@pytest.mark.parametrize(("model", "effort", "expected"), THINKING_CASES)
def test_reasoning_effort(model: str, effort: str | None, expected: dict[str, Any] | None) -> None:
    got = thinking_config(effort, model=model, settings=SETTINGS)
    assert (dump(got) if got else None) == expected


def test_thinking_settings_override_and_include_thoughts() -> None:
    custom = msgspec.convert(
        {
            "api_key": "k",
            "include_thoughts": True,
            "thinking_budgets": {"low": 512},
            "thinking_levels": {"low": "medium"},
        },
        GeminiSettings,
    )
    assert dump(thinking_config(None, model="gemini-2.5-flash", settings=custom)) == {"include_thoughts": True}
    assert dump(thinking_config("low", model="gemini-2.5-flash", settings=custom))["thinking_budget"] == 512
    assert dump(thinking_config("low", model="gemini-3-flash", settings=custom))["thinking_level"] == "MEDIUM"


def test_settings_forbid_unknown_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="api_kee"):
        msgspec.convert({"api_kee": "x"}, GeminiSettings)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"thinking_levels": {"low": "extreme"}}, GeminiSettings)
