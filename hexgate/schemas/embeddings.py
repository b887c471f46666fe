"""OpenAI Embeddings on the wire (openai-python ``types/embedding_create_params.py``, ``create_embedding_response.py``).

``encoding_format`` is ``float`` (OpenAI's default when absent) or ``base64``: the
little-endian float32 array, base64-encoded, which the official Python SDK asks
for by default (openai-python#1490). The core converts between the two, so a
provider may return either.
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, Raw, Struct, UnsetType

from hexgate.schemas.models import ModelName

__all__ = ["Embedding", "EmbeddingRequest", "EmbeddingResponse", "EmbeddingUsage"]


class EmbeddingRequest(Struct, kw_only=True):
    """``POST /v1/embeddings`` body. ``input``: a string, a list of strings, a token array or a list of them."""

    model: ModelName
    input: str | list[str | int | list[int]]
    encoding_format: Literal["float", "base64"] | UnsetType = UNSET
    dimensions: int | UnsetType = UNSET
    user: str | UnsetType = UNSET

    def inputs(self) -> list[str] | list[list[int]]:
        """``input`` as a batch: strings, or token arrays. Raises ValueError on a mixed or empty list."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if not value:
            raise ValueError("'input' must not be empty")
        if all(isinstance(v, str) for v in value):
            return [v for v in value if isinstance(v, str)]
        if all(isinstance(v, int) for v in value):
            return [[v for v in value if isinstance(v, int)]]
        if all(isinstance(v, list) for v in value):
            return [v for v in value if isinstance(v, list)]
        raise ValueError("'input' must be a string, a list of strings, a token array or a list of token arrays")


class Embedding(Struct, kw_only=True):
    index: int
    embedding: list[float] | str | Raw
    """Floats, or the base64 of their float32 little-endian bytes; or, from a provider, either of them as
    the upstream's own JSON (a ``Raw`` array or string, forwarded without parsing 1,536 floats and
    printing them again; ``/v1/embeddings`` converts it only when the client asked the other format)."""
    object: str = "embedding"


class EmbeddingUsage(Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(Struct, kw_only=True):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: str = "list"
