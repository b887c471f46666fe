"""For plugins whose upstream speaks the Responses API itself: relay it without re-encoding.

- :func:`request_payload`: the client's body as sent (unknown keys, built-in tools and items
  included), with ``model`` set to the upstream's id: a ``dict`` of raw JSON values to encode.
- :func:`open_events`: enter an upstream answer (an async context manager giving an
  ``httpx.Response`` or any :class:`~hexgate.upstream.UpstreamResponse`, such as a plugin's own
  ``open(...)``), check that it is an event stream,
  and relay it as :class:`~hexgate.schemas.responses.RawEvent`\\ s: each event's JSON byte for
  byte, with the upstream's ``type`` and ``sequence_number``. The gateway writes them out as they
  came, so the client sees exactly what the upstream sent (capture-equal), ``obfuscation`` and all.

The relay is an async iterator with ``aclose()``; the route closes it (which closes the upstream
answer) when the stream ends, fails, or the client goes away, even before the first event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TypeVar

import msgspec
from msgspec import Raw

from hexgate.errors import UpstreamError
from hexgate.protocol import CallContext
from hexgate.schemas.responses import RawEvent, ResponseRequest, ResponseStreamEvent
from hexgate.sse import SSEEvent, iter_sse
from hexgate.upstream import UpstreamResponse

__all__ = ["EventRelay", "open_events", "request_payload"]

R = TypeVar("R", bound=UpstreamResponse)

_encoder = msgspec.json.Encoder()
_fields = msgspec.json.Decoder(dict[str, Raw])


class _Head(msgspec.Struct):
    type: str = ""
    sequence_number: int = -1


_head = msgspec.json.Decoder(_Head)


def request_payload(request: ResponseRequest, ctx: CallContext) -> dict[str, Raw]:
    """The body to send upstream: ``ctx.body`` (the client's, or the core's rewrite of it) key for key,
    ``model`` replaced by ``ctx.model``. Without a body, the request Struct's own encoding."""
    body = ctx.body if ctx.body is not None else _encoder.encode(request)
    fields = _fields.decode(body)
    fields["model"] = Raw(_encoder.encode(ctx.model))
    return fields


class EventRelay:
    """An upstream ``text/event-stream`` answer as :class:`RawEvent`\\ s (``[DONE]`` and empty data
    skipped). A transport failure while reading goes through the answer's context manager, so the
    plugin's own error mapping applies; ``aclose()`` closes the answer."""

    def __init__(self, stack: AsyncExitStack, response: UpstreamResponse) -> None:
        self._stack = stack
        self._events: AsyncIterator[SSEEvent] = iter_sse(response.aiter_bytes())
        self._closed = False

    def __aiter__(self) -> EventRelay:
        return self

    async def __anext__(self) -> ResponseStreamEvent:
        if self._closed:
            raise StopAsyncIteration
        try:
            while True:
                event = await anext(self._events)
                data = event.data.strip()
                if not data:
                    continue
                if data == "[DONE]":
                    raise StopAsyncIteration
                raw = data.encode()
                try:
                    head = _head.decode(raw)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise UpstreamError(f"the upstream sent an unreadable event: {data[:200]}") from None
                kind = head.type or event.event
                return RawEvent(event=kind, data=Raw(raw), sequence_number=head.sequence_number)
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException as exc:
            self._closed = True
            await self._stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._stack.aclose()


async def open_events(
    answer: AbstractAsyncContextManager[R],
    *,
    not_a_stream: Callable[[R, bytes], BaseException],
) -> EventRelay:
    """Enter ``answer`` and return its events. An answer that is not ``text/event-stream`` (an error
    body sent with 200, an upstream that ignored ``stream``) is read, closed, and ``not_a_stream(response,
    body)`` raised: the plugin maps it to the right error."""
    stack = AsyncExitStack()
    response = await stack.enter_async_context(answer)
    try:
        if "event-stream" not in response.headers.get("content-type", ""):
            raise not_a_stream(response, await response.aread())
    except BaseException as exc:
        if not await stack.__aexit__(type(exc), exc, exc.__traceback__):
            raise
        raise  # pragma: no cover - the context manager swallowed the error
    return EventRelay(stack, response)
