"""``POST /v1/embeddings``, with ``encoding_format`` honoured whatever the upstream returned.

The call goes through :func:`hexgate.resilience.embed` (fallbacks, retries, timeouts).

``base64`` is the float32 little-endian array in base64, as OpenAI sends it and the
official SDK (which asks for it by default) decodes it; a float-only upstream gets
its floats encoded here, and a base64 answer is decoded for ``float`` clients.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

import msgspec
from litestar import Request, Response, post
from msgspec import Raw

from hexgate import resilience
from hexgate.errors import InvalidRequest, UpstreamError
from hexgate.ops.meter import meter_of
from hexgate.routes._common import call_context, decode_body, json_response, registry_of, trace_of
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse

__all__ = ["embeddings", "from_base64", "to_base64"]

_BIG_ENDIAN = sys.byteorder == "big"
_MAX_INPUTS = 2048
"""OpenAI's bound on the items of one embeddings request."""
_vector = msgspec.json.Decoder(list[float] | str)
_MAX_DIMENSIONS = 65536
"""Far above any embedding model's width; bounds what one request can make a provider allocate."""


def to_base64(values: list[float]) -> str:
    """Floats → base64 of their float32 little-endian bytes."""
    packed = array("f", values)
    if _BIG_ENDIAN:  # pragma: no cover
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def from_base64(text: str) -> list[float]:
    """The inverse of :func:`to_base64`."""
    packed = array("f")
    packed.frombytes(base64.b64decode(text))
    if _BIG_ENDIAN:  # pragma: no cover
        packed.byteswap()
    return packed.tolist()


def _reencode(response: EmbeddingResponse, want_base64: bool) -> None:
    for item in response.data:
        if isinstance(item.embedding, Raw):  # the upstream's JSON: parsed only to change its format
            is_text = bytes(memoryview(item.embedding)[:1]) == b'"'
            if is_text == want_base64:
                continue
            try:
                item.embedding = _vector.decode(item.embedding)
            except (msgspec.DecodeError, msgspec.ValidationError):
                raise UpstreamError("the upstream sent an unreadable embedding") from None
        if want_base64 and isinstance(item.embedding, list):
            item.embedding = to_base64(item.embedding)
        elif not want_base64 and isinstance(item.embedding, str):
            item.embedding = from_base64(item.embedding)


@post("/v1/embeddings", status_code=200, summary="Create embeddings", opt={"body": EmbeddingRequest})
async def embeddings(request: Request[Any, Any, Any]) -> Response[Any]:
    registry = registry_of(request)
    body = await request.body()
    req = decode_body(body, EmbeddingRequest)
    try:
        batch = req.inputs()
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="input") from None
    if len(batch) > _MAX_INPUTS:
        raise InvalidRequest(f"'input' holds {len(batch)} items; at most {_MAX_INPUTS} are accepted", param="input")
    if isinstance(req.dimensions, int) and not 1 <= req.dimensions <= _MAX_DIMENSIONS:
        raise InvalidRequest(f"'dimensions' must be between 1 and {_MAX_DIMENSIONS}", param="dimensions")
    route = registry.resolve(req.model)
    ctx = call_context(request, route, body, registry)
    meter = meter_of(request, model=req.model)
    result = await resilience.embed(registry, req, ctx, trace=trace_of(request))
    meter.usage(result.usage)
    _reencode(result, req.encoding_format == "base64")
    return json_response(result)
