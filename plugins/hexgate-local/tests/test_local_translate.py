"""Pure mapping: request checks, messages for the chat template, sampling, JSON constraints, stop strings."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hexgate_local.translate import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_K,
    DEFAULT_TOP_P,
    JsonConstraint,
    StopFilter,
    check_request,
    choices_wanted,
    json_constraint,
    sampling,
    template_messages,
)

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest


def req(**fields: Any) -> ChatCompletionRequest:
    body = {"model": "local/smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, ChatCompletionRequest)


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [TOOL]}, "tools"),
        ({"tools": [TOOL], "tool_choice": "auto"}, "tools"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}}, "tools"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ],
)
def test_refused_parameters(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(Unsupported) as info:
        check_request(req(**fields))
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    "fields",
    [{}, {"tools": [TOOL], "tool_choice": "none"}, {"logprobs": False}, {"logit_bias": {}}, {"logit_bias": None}],
)
def test_accepted_parameters(fields: dict[str, Any]) -> None:
    check_request(req(**fields))


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
    assert template_messages(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": json.dumps([{"name": "f", "arguments": "{}"}])},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "no"},
    ]


def test_template_messages_refuses_images() -> None:
    messages = req(
        messages=[
            {"role": "user", "content": "x"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "x"}}],
            },
        ]
    ).messages
    with pytest.raises(Unsupported) as info:
        template_messages(messages)
    assert info.value.param == "messages[1].content[1]"
    assert "image" in info.value.message


def test_sampling_defaults() -> None:
    s = sampling(req(), default_max_tokens=77)
    assert (s.temperature, s.top_p, s.top_k) == (DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K)
    assert (s.max_tokens, s.seed, s.stop, s.presence_penalty, s.frequency_penalty) == (77, None, (), 0.0, 0.0)


def test_sampling_mapping() -> None:
    s = sampling(
        req(
            temperature=0,
            top_p=0.5,
            top_k=5,
            seed=7,
            stop="END",
            max_tokens=10,
            presence_penalty=1.5,
            frequency_penalty=-1,
        ),
        default_max_tokens=512,
    )
    assert (s.temperature, s.top_p, s.top_k, s.seed, s.stop, s.max_tokens) == (0.0, 0.5, 5, 7, ("END",), 10)
    assert (s.presence_penalty, s.frequency_penalty) == (1.5, -1.0)
    assert sampling(req(max_tokens=10, max_completion_tokens=20), default_max_tokens=5).max_tokens == 20
    assert sampling(req(stop=["a", "", "b"]), default_max_tokens=5).stop == ("a", "b")
    assert sampling(req(temperature=None, seed=None), default_max_tokens=5).temperature == DEFAULT_TEMPERATURE


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"top_k": -1}, "top_k"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ],
)
def test_sampling_out_of_range(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        sampling(req(**fields), default_max_tokens=5)
    assert info.value.param == param


def test_choices_wanted() -> None:
    assert choices_wanted(req()) == 1
    assert choices_wanted(req(n=3)) == 3
    with pytest.raises(InvalidRequest) as info:
        choices_wanted(req(n=100))
    assert info.value.param == "n"


SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        (None, None),
        ({"type": "text"}, None),
        ({"type": "json_object"}, JsonConstraint(schema=None)),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}},
            JsonConstraint(schema=json.dumps(SCHEMA)),
        ),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, JsonConstraint(schema=None)),
    ],
)
def test_json_constraint(response_format: dict[str, Any] | None, expected: JsonConstraint | None) -> None:
    fields = {} if response_format is None else {"response_format": response_format}
    assert json_constraint(req(**fields)) == expected


def test_json_schema_needs_its_object() -> None:
    with pytest.raises(InvalidRequest) as info:
        json_constraint(req(response_format={"type": "json_schema"}))
    assert info.value.param == "response_format.json_schema"


def run_filter(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    f = StopFilter(stops)
    out: list[str] = []
    for piece in pieces:
        text, stopped = f.feed(piece)
        out.append(text)
        if stopped:
            return out, True
    out.append(f.flush())
    return out, False


@pytest.mark.parametrize(
    ("stops", "pieces", "emitted", "stopped"),
    [
        ((), ["a", "b"], ["a", "b", ""], False),
        (("END",), ["Hello", " world"], ["Hello", " world", ""], False),
        (("END",), ["Hello E", "N", "D more"], ["Hello ", "", ""], True),
        (("END",), ["Hello E", "x"], ["Hello ", "Ex", ""], False),
        (("END",), ["Hello EN"], ["Hello ", "EN"], False),
        (("\n\n",), ["a\n", "\nb"], ["a", ""], True),
        (("xy", "b"), ["axy"], ["a"], True),
        (("xy", "b"), ["ab xy"], ["a"], True),
        (("END",), ["END"], [""], True),
    ],
)
def test_stop_filter(stops: tuple[str, ...], pieces: list[str], emitted: list[str], stopped: bool) -> None:
    assert run_filter(stops, pieces) == (emitted, stopped)
