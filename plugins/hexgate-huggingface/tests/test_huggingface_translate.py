"""Pure mappings: request checks, messages, sampling, incremental decoding, model files, settings.

What hexgate.inproc does for every in-process provider (roles and parts, sampling ranges, ``n``,
stop strings) is tested in the core's tests/test_inproc_*.py; here, this provider's own choices."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hexgate_huggingface.settings import HuggingFaceSettings
from hexgate_huggingface.translate import (
    IncrementalDecoder,
    Sampling,
    check_request,
    context_window,
    embedding_dimension,
    finish_reason,
    model_kind,
    sampling,
    template_messages,
)

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.chat import ChatCompletionRequest


def req(**fields: Any) -> ChatCompletionRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, ChatCompletionRequest)


# ---------------------------------------------------------------- request checks


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),  # more: tests/test_inproc_checks.py
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format"),
    ],
)
def test_refused_parameters_name_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(Unsupported) as err:
        check_request(req(**fields))
    assert err.value.param == param
    assert err.value.status == 400


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"response_format": {"type": "text"}},
    ],
)
def test_accepted_requests(fields: dict[str, Any]) -> None:
    check_request(req(**fields))


# ---------------------------------------------------------------- messages


def test_template_messages_refuses_images() -> None:
    messages = req(
        messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}
        ]
    ).messages
    with pytest.raises(Unsupported) as err:
        template_messages(messages)
    assert err.value.param == "messages[0].content[0]"


# ---------------------------------------------------------------- sampling


def test_sampling_defaults_leave_the_model_config_alone() -> None:
    s = sampling(req(), default_max_tokens=77)
    assert s == Sampling(max_tokens=77)
    assert not s.greedy


def test_sampling_maps_every_knob() -> None:
    s = sampling(
        req(
            temperature=0.7,
            top_p=0.9,
            top_k=20,
            seed=5,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            logit_bias={"12": 100, "7": -3.5},
            stop=["\n\n", "", "END"],
            max_tokens=9,
            max_completion_tokens=11,
        ),
        default_max_tokens=512,
    )
    assert s == Sampling(
        max_tokens=11,
        temperature=0.7,
        top_p=0.9,
        top_k=20,
        seed=5,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={12: 100.0, 7: -3.5},
        stop=("\n\n", "END"),
    )


def test_temperature_zero_is_greedy() -> None:
    assert sampling(req(temperature=0), default_max_tokens=1).greedy
    assert sampling(req(stop="x"), default_max_tokens=1).stop == ("x",)


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),  # the shared ranges reach sampling()
        ({"logit_bias": {"x": 1}}, "logit_bias", "invalid_value"),
        ({"logit_bias": {"-1": 1}}, "logit_bias", None),
        ({"logit_bias": {"5": 101}}, "logit_bias", None),
    ],
)
def test_sampling_range_errors(fields: dict[str, Any], param: str, code: str | None) -> None:
    with pytest.raises(InvalidRequest) as err:
        sampling(req(**fields), default_max_tokens=10)
    assert err.value.param == param
    assert err.value.code == code


@pytest.mark.parametrize(
    ("generated", "limit", "stopped", "eos", "reason"),
    [
        (5, 5, False, False, "length"),
        (5, 5, False, True, "stop"),
        (3, 5, True, False, "stop"),
        (3, 5, False, True, "stop"),
        (5, 5, True, False, "stop"),
    ],
)
def test_finish_reason(generated: int, limit: int, stopped: bool, eos: bool, reason: str) -> None:
    assert finish_reason(generated=generated, limit=limit, stopped=stopped, ended_by_eos=eos) == reason


# ---------------------------------------------------------------- streaming text


def test_incremental_decoder_waits_for_whole_characters() -> None:
    # a byte-level vocabulary: token i decodes to byte i; "é" is two bytes
    def decode(ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    d = IncrementalDecoder(decode)
    data = "aé b€".encode()
    pieces = [d.push([b]) for b in data]
    assert pieces == ["a", "", "é", " ", "b", "", "", "€"]
    assert d.flush() == ""


def test_incremental_decoder_handles_words_that_change_when_joined() -> None:
    # SentencePiece-like: a leading "▁" turns into a space except at the very start of the text
    vocab = {1: "▁Hello", 2: "▁world", 3: "!"}

    def decode(ids: list[int]) -> str:
        return "".join(vocab[i] for i in ids).replace("▁", " ").lstrip(" ")

    d = IncrementalDecoder(decode)
    pieces = [d.push([1]), d.push([2]), d.push([3])]
    assert "".join(pieces) == "Hello world!"
    assert pieces[0] == "Hello"


def test_incremental_decoder_flushes_an_unfinished_character() -> None:
    def decode(ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    d = IncrementalDecoder(decode)
    assert d.push([0xE2, 0x82]) == ""
    assert d.flush() == "\ufffd"


# ---------------------------------------------------------------- model files


@pytest.mark.parametrize(
    ("config", "st", "kind"),
    [
        ({"architectures": ["LlamaForCausalLM"]}, False, "chat"),
        ({"architectures": ["GPT2LMHeadModel"]}, False, "chat"),
        ({"architectures": ["Gemma3ForConditionalGeneration"]}, False, "chat"),
        ({"architectures": ["BertModel"]}, False, "embeddings"),
        ({"architectures": ["BertModel"]}, True, "embeddings"),
        ({"architectures": ["Qwen3ForCausalLM"]}, True, "embeddings"),
        ({}, False, None),
        (None, False, None),
    ],
)
def test_model_kind(config: dict[str, Any] | None, st: bool, kind: str | None) -> None:
    assert model_kind(config, sentence_transformers=st) == kind


@pytest.mark.parametrize(
    ("config", "window"),
    [
        ({"max_position_embeddings": 2048}, 2048),
        ({"n_positions": 1024, "n_ctx": 1024}, 1024),
        ({"text_config": {"max_position_embeddings": 8192}, "max_position_embeddings": 512}, 8192),
        ({"seq_length": 4096}, 4096),
        ({"max_position_embeddings": True}, None),
        ({}, None),
        (None, None),
    ],
)
def test_context_window(config: dict[str, Any] | None, window: int | None) -> None:
    assert context_window(config) == window


def test_embedding_dimension_from_sentence_transformers_files() -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    configs = {"1_Pooling": {"word_embedding_dimension": 384}, "2_Dense": {"out_features": 128}}
    assert embedding_dimension({"hidden_size": 384}, modules, configs) == 128
    assert embedding_dimension({"hidden_size": 384}, modules[:2], configs) == 384
    assert embedding_dimension({"hidden_size": 768}, [], {}) == 768
    assert embedding_dimension(None, [], {}) is None


# ---------------------------------------------------------------- settings


def test_settings_defaults() -> None:
    s = msgspec.convert({}, HuggingFaceSettings)
    assert (s.device, s.dtype, s.max_new_tokens, s.threads, s.download, s.allow_unlisted) == (
        "auto",
        "auto",
        512,
        None,
        False,
        False,
    )
    assert s.max_models == 8


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"device": "gpu"}, "device"),
        ({"dtype": "int8"}, "dtype"),
        ({"threads": 0}, "threads"),
        ({"devise": "cpu"}, "devise"),
        ({"models": {"m": {}}}, "exactly one of"),
        ({"models": {"m": {"path": "/x", "repo": "a/b"}}}, "exactly one of"),
        ({"models": {"m": {"path": "/x", "kind": "rerank"}}}, "kind"),
    ],
)
def test_settings_errors_name_the_key(table: dict[str, Any], fragment: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=fragment):
        msgspec.convert(table, HuggingFaceSettings)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "mps", "auto"])
def test_settings_devices(device: str) -> None:
    assert msgspec.convert({"device": device}, HuggingFaceSettings).device == device
