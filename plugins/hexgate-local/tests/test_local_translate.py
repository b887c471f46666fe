"""Pure mapping: request checks, messages for the chat template, sampling, JSON constraints.

What hexgate.inproc does for every in-process provider (roles and parts, sampling ranges, ``n``,
stop strings) is tested in the core's tests/test_inproc_*.py; here, this provider's own choices."""

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
    check_request,
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
        ({"tools": [TOOL]}, "tools"),  # tool_choice variants: tests/test_inproc_checks.py
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
    [{}, {"logit_bias": {}}, {"logit_bias": None}],
)
def test_accepted_parameters(fields: dict[str, Any]) -> None:
    check_request(req(**fields))


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
