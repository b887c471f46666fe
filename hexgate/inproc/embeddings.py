"""An OpenAI embeddings request checked and answered for a model that runs inside the gateway.

- :func:`text_inputs`: the request's inputs as strings, refusing what a local model would misread.
- :func:`check_dimensions`: a model that cannot shorten its vectors accepts only its own length.
- :func:`encode_vectors`: vectors as JSON floats or as OpenAI's ``encoding_format: "base64"``
  (the little-endian float32 bytes of each vector, base64-encoded, as the ``openai`` SDK decodes them).
"""

from __future__ import annotations

import base64
import sys
from array import array

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.schemas.embeddings import EmbeddingRequest

__all__ = ["MAX_INPUTS", "check_dimensions", "encode_vectors", "text_inputs"]

MAX_INPUTS = 2048
"""OpenAI's limit on inputs per embeddings request."""


def text_inputs(request: EmbeddingRequest, *, text_only: str) -> list[str]:
    """``request.input`` as a list of non-empty strings.

    Raises :class:`Unsupported` (``param="input"``) for token-array inputs, the message starting with
    ``text_only`` (their ids would have to be in the local model's own vocabulary, which no OpenAI
    client assumes, so they are refused rather than misread); :class:`InvalidRequest` for a malformed
    input, over :data:`MAX_INPUTS` inputs, or an empty string.
    """
    try:
        inputs = request.inputs()
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="input") from None
    texts = [t for t in inputs if isinstance(t, str)]
    if len(texts) != len(inputs):
        raise Unsupported(
            f"{text_only}; token arrays are not supported (LangChain: set check_embedding_ctx_length=False)",
            param="input",
        )
    if len(texts) > MAX_INPUTS:
        raise InvalidRequest(f"at most {MAX_INPUTS} inputs per request, got {len(texts)}", param="input")
    for i, text in enumerate(texts):
        if not text:
            raise InvalidRequest(f"input[{i}] is an empty string; every input must contain text", param="input")
    return texts


def check_dimensions(requested: int | None, *, model: str, dimensions: int) -> None:
    """Raise :class:`InvalidRequest` (``param="dimensions"``) unless ``requested`` is None or
    ``dimensions``, the length ``model`` produces (unlike OpenAI's v3 models, most open embedding
    models were not trained to be shortened)."""
    if requested is not None and requested != dimensions:
        raise InvalidRequest(
            f"{model} produces {dimensions}-dimensional embeddings and cannot shorten them; "
            f"omit 'dimensions' or set it to {dimensions}",
            param="dimensions",
        )


def encode_vectors(rows: list[list[float]], *, as_base64: bool) -> list[list[float] | str]:
    """``rows`` as they go into ``data[i].embedding``: the floats themselves, or with ``as_base64``
    each row's float32 little-endian bytes in base64 (what ``encoding_format: "base64"`` asks for)."""
    if not as_base64:
        return list(rows)
    out: list[list[float] | str] = []
    for row in rows:
        packed = array("f", row)
        if sys.byteorder == "big":  # pragma: no cover - every platform we ship on is little-endian
            packed.byteswap()
        out.append(base64.b64encode(packed.tobytes()).decode("ascii"))
    return out
