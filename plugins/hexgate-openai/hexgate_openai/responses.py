"""Native Responses API pass-through (``POST {base_url}/responses``) for upstreams that have one.

The client's body goes upstream as it came (``model`` set to the upstream's id; built-in tools, items
and unknown keys included: :func:`hexgate.native.request_payload`); the answer comes back byte for
byte: a JSON response object as :class:`~hexgate.schemas.responses.NativeResponse`, an event stream
as :class:`~hexgate.schemas.responses.RawEvent`\\ s (``obfuscation``, ``logprobs`` and all; capture
``openai--responses--openai-reasoning-encrypted-content.1``). Upstream errors map as for chat
(``provider.open``); an ``error`` event and ``response.failed`` in the stream reach the client as sent
(capture ``openai--responses--openai-error.1``).

Upstreams without ``/responses`` (DeepSeek, llama.cpp, most OpenAI-compatible servers) answer 404
or 405: the provider then raises :class:`~hexgate.errors.Unsupported`, so the core bridges over chat,
and remembers it, so later calls bridge at once. A 404 that names the model (``model_not_found``)
is the client's error and passes on as such.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import msgspec

from hexgate.errors import HexgateError, Unsupported, UpstreamError, UpstreamRejected
from hexgate.native import open_events, request_payload
from hexgate.protocol import CallContext
from hexgate.schemas.responses import NativeResponse, Response, ResponseRequest, ResponseStreamEvent

if TYPE_CHECKING:
    from hexgate_openai.provider import OpenAIProvider

__all__ = ["native_respond"]

_chat_only: weakref.WeakSet[OpenAIProvider] = weakref.WeakSet()
"""Providers whose upstream answered 404/405 on ``/responses``: bridged from then on."""


class _ErrorBody(msgspec.Struct):
    error: dict[str, object] | None = None


def _unsupported() -> Unsupported:
    return Unsupported("this upstream has no /responses endpoint; the gateway bridges over chat completions")


def _no_endpoint(exc: HexgateError) -> bool:
    return isinstance(exc, UpstreamRejected) and exc.status in (404, 405) and exc.code != "model_not_found"


async def native_respond(
    provider: OpenAIProvider, request: ResponseRequest, ctx: CallContext
) -> Response | AsyncIterator[ResponseStreamEvent]:
    """The upstream's own ``/responses`` answer: a :class:`NativeResponse`, or (``stream: true``) an
    async iterator of :class:`RawEvent` whose first step already has the answer's status checked.

    Raises :class:`Unsupported` when the upstream has no ``/responses`` (the core bridges), the
    mapped hexgate error for any other failure before the answer, :class:`UpstreamError` (502) for
    an answer that is not a response object or an event stream.
    """
    if provider in _chat_only:
        raise _unsupported()
    payload = request_payload(request, ctx)
    try:
        if request.stream is True:
            return await open_events(
                provider.open("POST", "/responses", payload=payload, stream=True), not_a_stream=_not_a_stream
            )
        async with provider.open("POST", "/responses", payload=payload) as answer:
            raw = await answer.aread()
    except HexgateError as exc:
        if _no_endpoint(exc):
            _chat_only.add(provider)
            raise _unsupported() from None
        raise
    try:
        return NativeResponse.from_json(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"the upstream sent an unreadable response object: {exc}") from None


def _not_a_stream(response: httpx.Response, body: bytes) -> BaseException:
    try:
        error = msgspec.json.decode(body, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    if error is not None:
        message = str(error.get("message") or "the upstream answered with an error")
        return UpstreamError(f"the upstream answered the stream with an error: {message}")
    return UpstreamError(
        f"the upstream answered a streamed request with {response.headers.get('content-type') or 'no content type'}, "
        "not an event stream"
    )
