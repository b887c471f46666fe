"""Native Responses API pass-through (``POST {base_url}/responses``) for upstreams that have one.

The client's body goes upstream as it came (``model`` set to the upstream's id; built-in tools, items
and unknown keys included: :func:`hexgate.plugin_kit.request_payload`); the answer comes back byte for
byte: a JSON response object as :class:`~hexgate.schemas.responses.NativeResponse`, an event stream
as :class:`~hexgate.schemas.responses.RawEvent`\\ s (``obfuscation``, ``logprobs`` and all; capture
``openai--responses--openai-reasoning-encrypted-content.1``). Upstream errors map as for chat
(``provider.open``); an ``error`` event and ``response.failed`` in the stream reach the client as sent
(capture ``openai--responses--openai-error.1``).

Upstreams without ``/responses`` (DeepSeek, llama.cpp, most OpenAI-compatible servers) answer 404
or 405: the provider then raises :class:`~hexgate.errors.Unsupported`, so the core bridges over chat.
Only an answer that says the route itself is missing makes the provider remember it (later calls
bridge at once): a 405, or a 404 whose message is a router's (FastAPI's ``{"detail": "Not Found"}``
in vLLM, Go's ``404 page not found`` in Ollama, llama.cpp's ``File Not Found``, OpenAI's ``Invalid
URL``, an empty or HTML body). A 404 about the model (``model_not_found``, ``param: "model"``, or a
message naming the model: vLLM's ``The model `x` does not exist.``, Ollama's ``model "x" not found``)
is the client's error and passes on as such; any other 404 bridges this one call only, so one
request for an unknown model never turns the provider chat-only for everyone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import msgspec

from hexgate.errors import HexgateError, Unsupported, UpstreamError, UpstreamRejected
from hexgate.plugin_kit import UpstreamResponse, open_events, request_payload
from hexgate.protocol import CallContext
from hexgate.schemas.responses import NativeResponse, Response, ResponseRequest, ResponseStreamEvent

__all__ = ["NativeResponses", "Opener"]
_ROUTE_MISSING = re.compile(
    r"^(?:404 )?(?:page |file )?not found\.?$|invalid url|unexpected endpoint|no (?:such )?route|cannot post"
    r"|unknown (?:url|path)|/responses|^the upstream answered http 40[45]$",
    re.IGNORECASE,
)
_MODEL = re.compile(r"\bmodel\b", re.IGNORECASE)


class _ErrorBody(msgspec.Struct):
    error: dict[str, object] | None = None


def _unsupported() -> Unsupported:
    return Unsupported("this upstream has no /responses endpoint; the gateway bridges over chat completions")


def _no_endpoint(exc: HexgateError) -> tuple[bool, bool]:
    """``(bridge, remember)`` for an upstream error on ``/responses``: whether this call goes over chat,
    and whether the provider is chat-only from now on (the route itself is missing)."""
    if not isinstance(exc, UpstreamRejected) or exc.status not in (404, 405):
        return False, False
    if exc.status == 405:
        return True, True
    if exc.code == "model_not_found" or exc.param == "model" or _MODEL.search(exc.message):
        return False, False
    return True, _ROUTE_MISSING.search(exc.message.strip()) is not None


class Opener(Protocol):
    """How this module reaches the upstream: ``OpenAIProvider.open`` (one request; the unread 2xx
    answer, closed on exit; the mapped hexgate error for anything else)."""

    def __call__(
        self, method: str, path: str, *, payload: Any = None, stream: bool = False
    ) -> AbstractAsyncContextManager[UpstreamResponse]: ...


class NativeResponses:
    """One provider's ``/responses`` pass-through; ``chat_only`` becomes true (for this provider
    only, for its lifetime) once its upstream said the route itself is missing."""

    def __init__(self, open_: Opener) -> None:
        self._open = open_
        self.chat_only = False

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        """The upstream's own ``/responses`` answer: a :class:`NativeResponse`, or (``stream: true``)
        an async iterator of :class:`RawEvent` whose first step already has the answer's status checked.

        Raises :class:`Unsupported` when the upstream has no ``/responses`` (the core bridges), the
        mapped hexgate error for any other failure before the answer, :class:`UpstreamError` (502) for
        an answer that is not a response object or an event stream.
        """
        if self.chat_only:
            raise _unsupported()
        payload = request_payload(request, ctx)
        try:
            if request.stream is True:
                return await open_events(
                    self._open("POST", "/responses", payload=payload, stream=True), not_a_stream=_not_a_stream
                )
            async with self._open("POST", "/responses", payload=payload) as answer:
                raw = await answer.aread()
        except HexgateError as exc:
            bridge, remember = _no_endpoint(exc)
            if remember:
                self.chat_only = True
            if bridge:
                raise _unsupported() from None
            raise
        try:
            return NativeResponse.from_json(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"the upstream sent an unreadable response object: {exc}") from None


def _not_a_stream(response: UpstreamResponse, body: bytes) -> BaseException:
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
