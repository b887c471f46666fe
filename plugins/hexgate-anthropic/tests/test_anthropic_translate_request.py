"""OpenAI request → Anthropic ``messages.create`` parameters: one table per mapping (translate.build_params)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hexgate_anthropic.settings import AnthropicSettings
from hexgate_anthropic.translate import JSON_OBJECT_INSTRUCTION, build_params

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest

SETTINGS = AnthropicSettings(api_key="sk-ant-test-000")
USER = {"role": "user", "content": "hi"}
PNG = "data:image/png;base64,iVBORw0KGgo="


def params(model: str = "claude-sonnet-4-5", settings: AnthropicSettings = SETTINGS, **body: Any) -> dict[str, Any]:
    body.setdefault("messages", [USER])
    request = msgspec.convert({"model": f"claude/{model}", **body}, ChatCompletionRequest)
    return build_params(request, model=model, settings=settings)


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("messages", "system", "turns"),
    [
        pytest.param([USER], None, [{"role": "user", "content": [text("hi")]}], id="user-string"),
        pytest.param(
            [{"role": "system", "content": "be brief"}, {"role": "developer", "content": "no lists"}, USER],
            [text("be brief"), text("no lists")],
            [{"role": "user", "content": [text("hi")]}],
            id="system-and-developer-to-system",
        ),
        pytest.param(
            [USER, {"role": "system", "content": [{"type": "text", "text": "late rule"}]}],
            [text("late rule")],
            [{"role": "user", "content": [text("hi")]}],
            id="system-anywhere-text-parts",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}],
            None,
            [
                {"role": "user", "content": [text("hi")]},
                {"role": "assistant", "content": [text("hello")]},
                {"role": "user", "content": [text("again")]},
            ],
            id="multi-turn",
        ),
        pytest.param(
            [
                USER,
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": "b"},
            ],
            None,
            [
                {"role": "user", "content": [text("hi"), text("two")]},
                {"role": "assistant", "content": [text("a"), text("b")]},
            ],
            id="consecutive-same-role-merged",
        ),
        pytest.param(
            [{"role": "user", "content": ""}, {"role": "user", "content": [{"type": "text", "text": ""}]}, USER],
            None,
            [{"role": "user", "content": [text("hi")]}],
            id="empty-text-dropped",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": "The answer is  \n"}],
            None,
            [{"role": "user", "content": [text("hi")]}, {"role": "assistant", "content": [text("The answer is")]}],
            id="final-assistant-prefill-rstripped",
        ),
        pytest.param(
            [USER, {"role": "assistant", "content": "kept  "}, {"role": "user", "content": "more"}],
            None,
            [
                {"role": "user", "content": [text("hi")]},
                {"role": "assistant", "content": [text("kept  ")]},
                {"role": "user", "content": [text("more")]},
            ],
            id="earlier-assistant-untouched",
        ),
    ],
)
def test_messages(messages: list[dict[str, Any]], system: list[dict[str, Any]] | None, turns: list[Any]) -> None:
    p = params(messages=messages)
    assert p.get("system") == system
    assert p["messages"] == turns
    assert p["model"] == "claude-sonnet-4-5"


def test_only_system_messages_is_an_error() -> None:
    with pytest.raises(InvalidRequest) as err:
        params(messages=[{"role": "system", "content": "x"}])
    assert err.value.param == "messages"


def test_legacy_function_role_is_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        params(messages=[USER, {"role": "function", "name": "f", "content": "1"}])
    assert err.value.param == "messages[1].role"


# ---------------------------------------------------------------- images and files


@pytest.mark.parametrize(
    ("url", "block"),
    [
        (PNG, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}),
        (
            "data:image/JPEG;base64,/9j/",
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
        ),
        (
            "https://example.com/cat.webp",
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
        ),
        ("http://example.com/a.gif", {"type": "image", "source": {"type": "url", "url": "http://example.com/a.gif"}}),
        (
            "data:application/pdf;base64,JVBERi0=",
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        ),
    ],
)
def test_image_urls(url: str, block: dict[str, Any]) -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]
    p = params(messages=[{"role": "user", "content": content}])
    assert p["messages"][0]["content"] == [text("what is this?"), block]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("data:image/bmp;base64,Qk0=", "image/bmp"),
        ("data:image/png,rawbytes", "base64"),
        ("ftp://example.com/a.png", "http(s)"),
    ],
)
def test_bad_image_urls(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        params(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert why in err.value.message
    assert err.value.param == "messages[0].content[0].image_url.url"


def test_file_parts() -> None:
    pdf = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}
    txt = {"type": "file", "file": {"file_data": "data:text/plain;base64,aGVsbG8="}}
    p = params(messages=[{"role": "user", "content": [pdf, txt]}])
    assert p["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "a.pdf",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hello"}},
    ]
    with pytest.raises(Unsupported):
        params(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}])


def test_audio_input_is_unsupported() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(Unsupported) as err:
        params(messages=[{"role": "user", "content": [audio]}])
    assert err.value.param == "messages[0].content[0]"


# ---------------------------------------------------------------- sampling


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"max_tokens": 4096}),
        ({"max_tokens": 50}, {"max_tokens": 50}),
        ({"max_tokens": 50, "max_completion_tokens": 70}, {"max_tokens": 70}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}),
        ({"temperature": 0.3}, {"temperature": 0.3}),
        ({"temperature": 1.7}, {"temperature": 1.0}),
        ({"temperature": 0}, {"temperature": 0.0}),
        ({"top_p": 0.9, "top_k": 40}, {"top_p": 0.9, "top_k": 40}),
        ({"user": "u-42"}, {"metadata": {"user_id": "u-42"}}),
    ],
)
def test_sampling(body: dict[str, Any], expected: dict[str, Any]) -> None:
    p = params(**body)
    for key, value in expected.items():
        assert p[key] == value
        assert type(p[key]) is type(value)


def test_dropped_parameters_leave_no_trace() -> None:
    p = params(seed=1, presence_penalty=0.5, frequency_penalty=0.5, logit_bias={"1": 2}, metadata={"a": "b"})
    assert set(p) == {"model", "messages", "max_tokens"}


def test_default_max_tokens_comes_from_settings() -> None:
    assert params(settings=AnthropicSettings(api_key="k", max_tokens=123))["max_tokens"] == 123


@pytest.mark.parametrize("body", [{"logprobs": True}, {"top_logprobs": 2}])
def test_logprobs_are_unsupported(body: dict[str, Any]) -> None:
    with pytest.raises(Unsupported) as err:
        params(**body)
    assert err.value.status == 400


# ---------------------------------------------------------------- tools

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
NOARGS = {"type": "function", "function": {"name": "ping"}}


def test_tools() -> None:
    strict = {"type": "function", "function": {"name": "s", "parameters": {"type": "object"}, "strict": True}}
    p = params(tools=[WEATHER, NOARGS, strict])
    assert p["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"name": "ping", "input_schema": {"type": "object"}},
        {"name": "s", "input_schema": {"type": "object"}, "strict": True},
    ]
    assert "tool_choice" not in p


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            False,
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        ("none", False, {"type": "none"}),
        (None, True, None),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"tools": [WEATHER]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert params(**body).get("tool_choice") == expected


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in params(tool_choice="required")


def test_tool_calls_and_results() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {"id": "call.2:x", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call.2:x", "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "thanks"},
    ]
    p = params(messages=messages, tools=[WEATHER])
    assert p["messages"] == [
        {"role": "user", "content": [text("weather in Paris and Rome?")]},
        {
            "role": "assistant",
            "content": [
                text("Checking."),
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2_x", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2_x", "content": [text("21C")]},
                text("thanks"),
            ],
        },
    ]


def test_tool_results_go_before_text_in_a_merged_user_turn() -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "user", "content": "also this"},
        {"role": "tool", "tool_call_id": "c", "content": ""},
    ]
    turn = params(messages=messages)["messages"][2]
    assert turn == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c"}, text("also this")]}


@pytest.mark.parametrize(("arguments", "why"), [("{not json", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_bad_tool_arguments(arguments: str, why: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(InvalidRequest) as err:
        params(messages=[USER, {"role": "assistant", "tool_calls": [call]}])
    assert why in err.value.message
    assert err.value.param == "messages[1].tool_calls[0].function.arguments"


def test_tool_message_needs_its_call_id() -> None:
    with pytest.raises(InvalidRequest) as err:
        params(messages=[USER, {"role": "tool", "content": "x"}])
    assert err.value.param == "messages[1].tool_call_id"


# ---------------------------------------------------------------- reasoning replay

SIG = "EqQBCkYIBxgCKkBsig=="


def test_thinking_replayed_before_tool_use() -> None:
    assistant = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "I should call the tool.",
        "reasoning_details": [
            {
                "type": "reasoning.text",
                "text": "I should call the tool.",
                "signature": SIG,
                "format": "anthropic-claude-v1",
                "index": 0,
            },
            {"type": "reasoning.encrypted", "data": "EmwKAhgBEgy", "format": "anthropic-claude-v1", "index": 1},
        ],
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    p = params(messages=[USER, assistant, {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}])
    assert p["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I should call the tool.", "signature": SIG},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert p["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]


@pytest.mark.parametrize(
    ("details", "blocks"),
    [
        pytest.param(
            [{"type": "reasoning.text", "signature": SIG}],
            [{"type": "thinking", "thinking": "why", "signature": SIG}],
            id="text-falls-back-to-reasoning_content",
        ),
        pytest.param(
            [{"type": "reasoning.text", "text": "x", "signature": SIG, "format": "google-gemini-v1"}],
            [],
            id="foreign-format-dropped",
        ),
        pytest.param([{"type": "reasoning.text", "text": "x"}], [], id="no-signature-dropped"),
        pytest.param([{"type": "reasoning.summary", "summary": "s"}], [], id="summary-dropped"),
    ],
)
def test_reasoning_details_variants(details: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    assistant = {"role": "assistant", "content": "ok", "reasoning_content": "why", "reasoning_details": details}
    p = params(messages=[USER, assistant, {"role": "user", "content": "next"}])
    assert p["messages"][1]["content"] == [*blocks, text("ok")]


def test_reasoning_content_alone_is_not_replayed() -> None:
    assistant = {"role": "assistant", "content": "ok", "reasoning_content": "unsigned thoughts"}
    p = params(messages=[USER, assistant, {"role": "user", "content": "next"}])
    assert p["messages"][1]["content"] == [text("ok")]


# ---------------------------------------------------------------- structured output


def test_json_schema_goes_to_output_config() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    p = params(
        response_format={"type": "json_schema", "json_schema": {"name": "num", "schema": schema, "strict": True}}
    )
    fmt = p["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["type"] == "object"
    assert fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["required"] == ["n"]
    assert fmt["schema"]["properties"]["n"]["type"] == "integer"
    assert "system" not in p


def test_json_schema_without_schema_is_an_error() -> None:
    with pytest.raises(InvalidRequest) as err:
        params(response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert err.value.param == "response_format"


def test_json_object_becomes_an_instruction() -> None:
    p = params(messages=[{"role": "system", "content": "be nice"}, USER], response_format={"type": "json_object"})
    assert p["system"] == [text("be nice"), text(JSON_OBJECT_INSTRUCTION)]
    assert "output_config" not in p
    assert "system" not in params(response_format={"type": "text"})


# ---------------------------------------------------------------- reasoning effort


@pytest.mark.parametrize(
    ("body", "thinking", "max_tokens"),
    [
        ({"reasoning_effort": "none"}, {"type": "disabled"}, 4096),
        ({"reasoning_effort": "minimal"}, {"type": "enabled", "budget_tokens": 1024}, 4096 + 1024),
        ({"reasoning_effort": "low"}, {"type": "enabled", "budget_tokens": 1024}, 4096 + 1024),
        ({"reasoning_effort": "medium"}, {"type": "enabled", "budget_tokens": 2048}, 4096 + 2048),
        ({"reasoning_effort": "high"}, {"type": "enabled", "budget_tokens": 4096}, 4096 + 4096),
        ({"reasoning_effort": "xhigh"}, {"type": "enabled", "budget_tokens": 8192}, 4096 + 8192),
        (
            {"reasoning_effort": "high", "max_completion_tokens": 20000},
            {"type": "enabled", "budget_tokens": 4096},
            20000,
        ),
        ({"reasoning_effort": "high", "max_tokens": 3000}, {"type": "enabled", "budget_tokens": 2999}, 3000),
    ],
)
def test_reasoning_effort_budgets(body: dict[str, Any], thinking: dict[str, Any], max_tokens: int) -> None:
    p = params(**body)
    assert p["thinking"] == thinking
    assert p["max_tokens"] == max_tokens
    assert "output_config" not in p


def test_budgets_come_from_settings() -> None:
    settings = msgspec.convert({"api_key": "k", "thinking_budgets": {"low": 1500}}, AnthropicSettings)
    assert params(settings=settings, reasoning_effort="low")["thinking"] == {"type": "enabled", "budget_tokens": 1500}


def test_adaptive_models_get_effort() -> None:
    p = params(model="claude-opus-4-6", reasoning_effort="medium")
    assert p["thinking"] == {"type": "adaptive"}
    assert p["output_config"] == {"effort": "medium"}
    assert p["max_tokens"] == 4096
    assert params(model="claude-opus-4-6", reasoning_effort="minimal")["output_config"] == {"effort": "low"}


def test_effort_and_schema_share_output_config() -> None:
    schema = {"type": "object", "properties": {}}
    p = params(
        model="claude-opus-4-6",
        reasoning_effort="high",
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    assert p["output_config"]["effort"] == "high"
    assert p["output_config"]["format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_effort": "low", "max_tokens": 1000}, "max_tokens"),
    ],
)
def test_reasoning_effort_errors(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        params(**body)
    assert err.value.param == param
