"""hexgate.inproc.checks: request checks shared by the providers that run a model in-process."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.inproc import (
    SamplingFields,
    choices_wanted,
    refuse_tools_and_logprobs,
    sampling_fields,
    template_messages,
)
from hexgate.schemas.chat import ChatCompletionRequest


def req(**fields: Any) -> ChatCompletionRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, ChatCompletionRequest)


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def refuse(request: ChatCompletionRequest) -> None:
    refuse_tools_and_logprobs(request, provider="inproc", tools_refusal="this model cannot call tools")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [TOOL]}, "tools"),
        ({"tools": [TOOL], "tool_choice": "auto"}, "tools"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}}, "tools"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_refused_parameters(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(Unsupported) as info:
        refuse(req(**fields))
    assert info.value.param == param
    assert info.value.status == 400


def test_refusals_carry_the_providers_wording() -> None:
    with pytest.raises(Unsupported) as info:
        refuse(req(tools=[TOOL]))
    assert info.value.message.startswith("this model cannot call tools; remove 'tools'")
    with pytest.raises(Unsupported) as info:
        refuse(req(logprobs=True))
    assert info.value.message == "the inproc provider does not return logprobs"


@pytest.mark.parametrize("fields", [{}, {"tools": [TOOL], "tool_choice": "none"}, {"logprobs": False}])
def test_accepted_parameters(fields: dict[str, Any]) -> None:
    refuse(req(**fields))


def test_template_messages_roles_and_parts() -> None:
    messages = req(
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ]
    ).messages
    expected = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": json.dumps([{"name": "f", "arguments": "{}"}])},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "no"},
    ]
    assert template_messages(messages, text_only="x") == expected
    assert expected[2]["content"] == '[{"name": "f", "arguments": "{}"}]'


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            [
                {"role": "user", "content": "x"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
            ],
            "messages[1].content[1]",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}],
            "messages[0].content[0]",
        ),
    ],
)
def test_template_messages_refuses_images(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(Unsupported) as info:
        template_messages(req(messages=messages).messages, text_only="this model reads text only")
    assert info.value.param == param
    assert "image" in info.value.message
    assert info.value.message.startswith("this model reads text only; ")


def test_sampling_fields_unset() -> None:
    assert sampling_fields(req(), default_max_tokens=77) == SamplingFields(
        max_tokens=77,
        temperature=None,
        top_p=None,
        top_k=None,
        seed=None,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        stop=(),
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0}, {"temperature": 0.0}),
        ({"top_p": 0.5, "top_k": 5}, {"top_p": 0.5, "top_k": 5}),
        ({"seed": 7}, {"seed": 7}),
        ({"presence_penalty": 1.5, "frequency_penalty": -1}, {"presence_penalty": 1.5, "frequency_penalty": -1.0}),
        ({"max_tokens": 10}, {"max_tokens": 10}),
        ({"max_tokens": 10, "max_completion_tokens": 20}, {"max_tokens": 20}),
        ({"stop": "END"}, {"stop": ("END",)}),
        ({"stop": ["a", "", "b"]}, {"stop": ("a", "b")}),
        ({"temperature": None, "seed": None}, {"temperature": None, "seed": None}),
    ],
)
def test_sampling_fields_mapping(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    s = sampling_fields(req(**fields), default_max_tokens=5)
    assert {name: getattr(s, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"temperature": -0.1}, "temperature", "decimal_below_min_value"),
        ({"top_p": 1.5}, "top_p", "decimal_above_max_value"),
        ({"presence_penalty": 3}, "presence_penalty", "decimal_above_max_value"),
        ({"frequency_penalty": -3}, "frequency_penalty", "decimal_below_min_value"),
        ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({"max_completion_tokens": -1}, "max_completion_tokens", "integer_below_min_value"),
        ({"top_k": -1}, "top_k", None),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", None),
    ],
)
def test_sampling_fields_out_of_range(fields: dict[str, Any], param: str, code: str | None) -> None:
    with pytest.raises(InvalidRequest) as info:
        sampling_fields(req(**fields), default_max_tokens=5)
    assert info.value.param == param
    assert info.value.code == code


def test_choices_wanted() -> None:
    assert choices_wanted(req(), most=16, provider="inproc") == 1
    assert choices_wanted(req(n=3), most=16, provider="inproc") == 3
    assert choices_wanted(req(n=16), most=16, provider="inproc") == 16
    for n in (17, 100):
        with pytest.raises(InvalidRequest) as info:
            choices_wanted(req(n=n), most=16, provider="inproc")
        assert info.value.param == "n"
        assert info.value.message == f"the inproc provider generates at most 16 choices per request (n={n})"
