"""hexgate.inproc.embeddings: input checks, fixed dimensions, float and base64 vectors."""

from __future__ import annotations

import base64
from array import array
from typing import Any

import msgspec
import pytest

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.inproc import check_dimensions, encode_vectors, text_inputs
from hexgate.inproc.embeddings import MAX_INPUTS
from hexgate.schemas.embeddings import EmbeddingRequest


def req(input: Any) -> EmbeddingRequest:
    return msgspec.convert({"model": "m", "input": input}, EmbeddingRequest)


def test_text_inputs() -> None:
    assert text_inputs(req("hi"), text_only="x") == ["hi"]
    assert text_inputs(req(["a", "b"]), text_only="x") == ["a", "b"]


@pytest.mark.parametrize(
    ("input", "error"),
    [
        ([1, 2, 3], Unsupported),
        ([[1, 2], [3]], Unsupported),
        (["ok", ""], InvalidRequest),
        (["x"] * (MAX_INPUTS + 1), InvalidRequest),
    ],
)
def test_text_inputs_refusals(input: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        text_inputs(req(input), text_only="this model takes text input only")
    assert getattr(info.value, "param", None) == "input"


def test_token_arrays_are_refused_in_the_providers_words() -> None:
    with pytest.raises(Unsupported) as info:
        text_inputs(req([1, 2]), text_only="this model takes text input only")
    assert info.value.message.startswith("this model takes text input only; token arrays are not supported")


def test_check_dimensions() -> None:
    check_dimensions(None, model="m", dimensions=384)
    check_dimensions(384, model="m", dimensions=384)
    with pytest.raises(InvalidRequest) as info:
        check_dimensions(128, model="m", dimensions=384)
    assert info.value.param == "dimensions"
    assert "m produces 384-dimensional embeddings" in info.value.message


def test_encode_vectors_as_floats_and_base64() -> None:
    rows = [[0.5, -1.25, 3.0], [0.0, 1.0, 2.0]]
    assert encode_vectors(rows, as_base64=False) == rows
    encoded = encode_vectors(rows, as_base64=True)
    assert all(isinstance(e, str) for e in encoded)
    decoded = [array("f", base64.b64decode(e)).tolist() for e in encoded if isinstance(e, str)]
    assert decoded == rows
    assert base64.b64decode(encoded[0])[:4] == b"\x00\x00\x00\x3f"  # 0.5 as float32, little-endian
