"""What a provider plugin may use from hexgate besides the contract (:mod:`hexgate.protocol`), the
error tree (:mod:`hexgate.errors`) and the wire Structs (:mod:`hexgate.schemas`). Everything here
is public API under the compatibility policy in :mod:`hexgate.protocol`; the modules it re-exports
from (``hexgate.sse``, ``hexgate.native``, ``hexgate.inproc``) are not, so import from here.

Sending upstream:

- :func:`send`: one request on the client the core handed in, on its direct aiohttp lane when it
  has one (no httpx layer: about half the gateway's CPU per proxied request), else through httpx;
  the answer is an :class:`UpstreamResponse` either way.

Upstream answers:

- :func:`retry_after`: the wait an upstream asks for, from its headers;
- :func:`from_transport_error`: an ``httpx`` transport failure as a hexgate error;
- :func:`completion_as_chunks`: a whole completion replayed as stream chunks (an upstream that
  answered a streamed request in one piece);
- SSE parsing: :func:`iter_sse` (events), :func:`iter_sse_batches` (events as bytes, batched by
  arrival, for relays that forward bytes), :func:`iter_lines` (NDJSON and line streams),
  :class:`SSEEvent`.

Native pass-through (an upstream that speaks the client's dialect itself): :func:`request_payload`,
:func:`open_events`, :class:`EventRelay`.

In-process models (a model run on the gateway's machine, see :mod:`hexgate.inproc`'s docstring):
:class:`Supervisor`, :class:`ChildWorker`, :class:`Jobs`, :class:`StopFilter`, the request checks
(:func:`refuse_tools_and_logprobs`, :func:`sampling_fields`, :func:`template_messages`,
:func:`choices_wanted`), the embedding helpers (:func:`text_inputs`, :func:`check_dimensions`,
:func:`encode_vectors`) and the worker's events (:class:`Outcome`, :class:`Sink`,
:func:`as_hexgate`, :func:`run_choices`).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from typing import Protocol, cast

import httpx
from msgspec import UNSET

from hexgate.errors import HexgateError, UpstreamConnectError, UpstreamError, UpstreamTimeout
from hexgate.inproc import (
    ChildWorker,
    Generated,
    Jobs,
    Outcome,
    Run,
    SamplingFields,
    Sink,
    StopFilter,
    Supervisor,
    as_hexgate,
    check_dimensions,
    choices_wanted,
    encode_vectors,
    refuse_tools_and_logprobs,
    run_choices,
    sampling_fields,
    template_messages,
    text_inputs,
)
from hexgate.native import EventRelay, open_events, request_payload
from hexgate.schemas.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    FunctionCallDelta,
    ToolCallDelta,
    Usage,
)
from hexgate.sse import SSEEvent, iter_lines, iter_sse, iter_sse_batches
from hexgate.upstream import UpstreamResponse

__all__ = [
    "ChildWorker",
    "EventRelay",
    "Generated",
    "Jobs",
    "Outcome",
    "Run",
    "SSEEvent",
    "SamplingFields",
    "Sink",
    "StopFilter",
    "Supervisor",
    "UpstreamResponse",
    "as_hexgate",
    "check_dimensions",
    "choices_wanted",
    "completion_as_chunks",
    "encode_vectors",
    "from_transport_error",
    "iter_lines",
    "iter_sse",
    "iter_sse_batches",
    "open_events",
    "refuse_tools_and_logprobs",
    "request_payload",
    "retry_after",
    "run_choices",
    "sampling_fields",
    "send",
    "template_messages",
    "text_inputs",
]


class _DirectLane(Protocol):
    """What :func:`send` looks for on a client: ``hexgate.clients.UpstreamClient.open_direct``."""

    async def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None,
        timeouts: httpx.Timeout | None,
        stream: bool,
    ) -> UpstreamResponse | None: ...


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    content: bytes | None = None,
    timeouts: httpx.Timeout | None = None,
    stream: bool = True,
) -> UpstreamResponse:
    """Send one request on ``http`` (the client the core handed in, or any ``httpx.AsyncClient``)
    and return the answer, whatever its status; close it (``aclose()``) when done.

    ``url`` absolute; ``headers`` as names to values (over the client's own); ``content`` the body
    bytes (None: none); ``timeouts`` per phase in seconds (None: the client's own, *not* "no
    timeout" as in httpx); ``stream`` True returns the body unread (read it with ``aread()`` or
    ``aiter_bytes()``), False reads it first.

    On the core's client for a direct connection (no proxy, no key pool, the default aiohttp
    transport) the request takes the direct lane (``UpstreamClient.open_direct``: same connection
    pool, no httpx layer) and the answer is a ``DirectResponse``; on any other client, or when the
    lane does not apply, it is ``http.send(http.build_request(...), stream=stream)`` and an
    ``httpx.Response``. Both raise the same ``httpx.HTTPError`` subclasses for the same failure,
    before the answer and while reading it: map them with :func:`from_transport_error`.

    Example::

        try:
            response = await send(self.http, "POST", url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream="Puter") from None
    """
    lane = getattr(http, "open_direct", None)
    if lane is not None:
        direct = await cast(_DirectLane, lane)(
            method, url, headers=headers, content=content, timeouts=timeouts, stream=stream
        )
        if direct is not None:
            return direct
    request = http.build_request(
        method,
        url,
        headers=headers,
        content=content,
        timeout=httpx.USE_CLIENT_DEFAULT if timeouts is None else timeouts,
    )
    return await http.send(request, stream=stream)


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds an upstream asks to wait, ``>= 0``: ``retry-after-ms`` (milliseconds; OpenAI, Azure;
    preferred, as openai-python does) else ``retry-after`` (seconds, or an HTTP date, RFC 9110
    §10.2.3, counted from ``now``, default ``time.time()``). None when absent, negative, not finite
    or unreadable; header names in any case.

    Example: ``retry_after({"Retry-After": "30"}) == 30.0``.
    """
    lowered = headers if isinstance(headers, httpx.Headers) else {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        seconds = _seconds(raw_ms)
        if seconds is not None:
            return seconds / 1000.0
    raw = lowered.get("retry-after")
    if not raw:
        return None
    seconds = _seconds(raw)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _seconds(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def from_transport_error(
    exc: httpx.HTTPError, *, upstream: str = "the upstream", mid_answer: bool = False
) -> HexgateError:
    """An ``httpx`` transport failure as a hexgate error; ``upstream`` names it in the message
    (``"the upstream at https://api.example.com"``, ``"Anthropic"``), the first cause's text
    (≤ 300 characters) says why.

    Before an answer (``mid_answer=False``): a refused connection is 502
    :class:`UpstreamConnectError` (nothing was sent: safe to retry elsewhere), a real timeout 504
    :class:`UpstreamTimeout`, anything else 502 :class:`UpstreamError`. Once an answer started
    (``mid_answer=True``) nothing is called "not sent": a timeout is 504, anything else 502
    :class:`UpstreamError`. The core's aiohttp transport (``httpx_aiohttp``) reports a refused
    connect and a connection dropped after the request alike as ``ConnectTimeout``; the cause chain
    decides (an ``OSError`` that is not a ``TimeoutError``: refused; a timeout: timeout; else
    dropped).

    Example::

        try:
            response = await http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream="Puter") from None
    """
    reason = _reason(exc)
    if not mid_answer and (
        isinstance(exc, httpx.ConnectError) or (isinstance(exc, httpx.ConnectTimeout) and _refused(exc))
    ):
        return UpstreamConnectError(f"could not connect to {upstream}: {reason}")
    if isinstance(exc, httpx.TimeoutException) and _timed_out(exc):
        if mid_answer:
            return UpstreamTimeout(f"{upstream} stopped sending mid-answer ({reason})")
        return UpstreamTimeout(f"{upstream} did not answer in time ({reason})")
    if mid_answer:
        return UpstreamError(f"the connection to {upstream} broke mid-answer: {reason}")
    return UpstreamError(f"the connection to {upstream} failed before an answer: {reason}")


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and cause not in chain and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _refused(exc: httpx.HTTPError) -> bool:
    """A ``ConnectTimeout`` whose cause is a failed connect (aiohttp's ``ClientConnectorError`` is an
    OSError), not a timeout nor a connection the server dropped after accepting the request."""
    return any(isinstance(c, OSError) and not isinstance(c, TimeoutError) for c in _causes(exc))


def _timed_out(exc: httpx.HTTPError) -> bool:
    """A real timeout: httpx's own read/write/pool timeouts, or a ``ConnectTimeout`` caused by one
    (not aiohttp's mapping of a dropped connection to ``ConnectTimeout``)."""
    if not isinstance(exc, httpx.ConnectTimeout):
        return True
    causes = _causes(exc)
    return not causes or any(isinstance(c, TimeoutError) or "Timeout" in type(c).__name__ for c in causes)


def _reason(exc: BaseException) -> str:
    for candidate in (exc, *_causes(exc)):
        text = str(candidate).strip()
        if text:
            return text[:300]
    return type(exc).__name__


def completion_as_chunks(completion: ChatCompletion) -> list[ChatCompletionChunk]:
    """A whole completion as the chunks a streaming upstream would have sent: first one chunk with,
    for every choice (its own ``index``), ``role: "assistant"`` and everything its message holds
    (``reasoning_content`` or ``reasoning``, ``reasoning_details``, ``content``, ``refusal``, ``tool_calls`` with
    their ``index``); then one chunk with each choice's ``finish_reason`` and the ``usage``. Both
    carry the completion's ``id``, ``created``, ``model`` and ``system_fingerprint``.

    Example: ``for chunk in completion_as_chunks(completion): yield chunk``.
    """
    body: list[ChunkChoice] = []
    ends: list[ChunkChoice] = []
    for choice in completion.choices:
        m = choice.message
        calls = [
            ToolCallDelta(
                index=i,
                id=t.id,
                type="function",
                function=FunctionCallDelta(name=t.function.name, arguments=t.function.arguments),
            )
            for i, t in enumerate(m.tool_calls or [])
        ]
        delta = Delta(
            role="assistant",
            content=m.content if isinstance(m.content, str) and m.content else UNSET,
            reasoning_content=m.reasoning_content or UNSET,
            reasoning=m.reasoning or UNSET,
            reasoning_details=m.reasoning_details or UNSET,
            refusal=m.refusal or UNSET,
            tool_calls=calls or UNSET,
        )
        body.append(ChunkChoice(index=choice.index, delta=delta))
        ends.append(ChunkChoice(index=choice.index, delta=Delta(), finish_reason=choice.finish_reason or "stop"))
    usage = completion.usage if isinstance(completion.usage, Usage) else UNSET

    def chunk(choices: list[ChunkChoice]) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=completion.id,
            created=completion.created,
            model=completion.model,
            choices=choices,
            system_fingerprint=completion.system_fingerprint,
        )

    last = chunk(ends)
    last.usage = usage
    return [chunk(body), last]
