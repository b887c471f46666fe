"""The whole plugin contract: what a provider implements and what the core hands it.

A provider plugin is a distribution that declares an entry point in the group
``hexgate.providers`` naming a :class:`ProviderFactory` (normally the provider
class). For each ``[providers.<id>]`` table whose ``plugin`` names it, the core
calls ``factory(settings, http=client)`` once at start-up, where ``settings`` is
the table without ``plugin`` (``${ENV}`` already interpolated) and ``client`` an
``httpx.AsyncClient`` the core owns and closes. The provider validates
``settings`` with its own Struct (``forbid_unknown_fields=True``) and raises
``msgspec.ValidationError`` on a bad table; the core adds the key path.

Every operation raises only :mod:`hexgate.errors` exceptions. One it lacks raises
:class:`hexgate.errors.Unsupported`; for ``respond`` the core then bridges over
``chat`` / ``stream_chat``. Optional hooks, called when present: :class:`Startable`
(``async def start(self) -> None`` after construction: load weights, warm up) and
:class:`Closable` (``async def aclose(self) -> None`` at shutdown).

Optional capabilities are separate small protocols, checked with ``isinstance`` at call
time; a provider without one answers 400 ``unsupported``: :class:`ImageProvider`
(``POST /v1/images/generations``). :class:`MessagesProvider` is a provider whose upstream speaks
the Messages dialect itself; one without it is bridged over ``chat`` / ``stream_chat``. A provider
that runs models in worker processes of its own implements :class:`WorkerProvider`; ``/health`` and
``/providers`` show each worker's state. A native Responses upstream that does not keep the
responses it answers says so with :class:`KeepsResponses` (``upstream_keeps_responses = False``).

Optional class attributes: ``param_policy: Mapping[str, ParamPolicy]`` (:class:`HasParamPolicy`)
says what the provider does with each chat parameter it does not simply pass on
(:mod:`hexgate.params` tells the client); ``takes_proxy = True`` (:class:`TakesProxy`) asks the
core to put the effective upstream proxy URL in ``settings["proxy"]``, for a plugin that opens its
own connections (the core's client already goes through it).

What a plugin may import: this module, :mod:`hexgate.errors`, :mod:`hexgate.schemas` and
:mod:`hexgate.plugin_kit` (helpers: SSE parsing, ``retry_after``, ``from_transport_error``,
``completion_as_chunks``, the native pass-through and in-process helpers); in tests also
:mod:`hexgate.testing`. Nothing else in ``hexgate`` is API.

Compatibility policy. A provider declares the protocol it was written for as a literal class
attribute (:class:`Versioned`), ``protocol_version = 1`` (none declared counts as the current
one); the registry refuses, at start-up and naming both numbers, a plugin written for another. Within one
:data:`PROTOCOL_VERSION` (any minor or patch release of hexgate) changes are additive only: new
optional fields (``UNSET`` / defaulted) on the wire Structs and on :class:`CallContext`, new
optional capability protocols and hooks, new error subclasses (an existing class keeps its status),
new ``hexgate.testing`` helpers and conformance checks. Removing or renaming a method, a field or a
hook, changing a signature, a type, a meaning, an error's status or what the factory receives
bumps :data:`PROTOCOL_VERSION`; that happens only in a minor (or major) release, never a patch,
with a migration note in the release notes. On a bump a plugin author follows the note, sets
``protocol_version`` to the new number, raises the ``hexgate>=`` lower bound to that release
(an older plugin release, pinned below it, keeps serving older gateways) and runs
:mod:`hexgate.testing.conformance` again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
import msgspec

from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkFrames
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.images import ImageGenerationRequest, ImagesResponse
from hexgate.schemas.models import Model
from hexgate.schemas.responses import RawEvent, Response, ResponseRequest, ResponseStreamEvent

__all__ = [
    "PROTOCOL_VERSION",
    "CallContext",
    "Closable",
    "HasParamPolicy",
    "ImageProvider",
    "KeepsResponses",
    "MessagesProvider",
    "ParamPolicy",
    "Provider",
    "ProviderFactory",
    "RelaysFrames",
    "Startable",
    "TakesProxy",
    "Versioned",
    "WorkerProvider",
    "WorkerStatus",
]

PROTOCOL_VERSION = 1
"""Bumped on any breaking change; a provider declares the version it was built for as
``protocol_version`` (class attribute) and the registry refuses another."""

ParamPolicy = Literal["pass", "emulate", "drop", "reject"]
"""What a provider does with one chat parameter: sends it on (``pass``), obtains its effect otherwise
(``emulate``), ignores it (``drop``) or refuses the request (``reject``)."""


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """What the core knows about one call, beside the request itself."""

    request_id: str
    model: str
    """The upstream's own model id: provider prefix stripped, aliases resolved."""
    timeout: float
    """Seconds the whole call may take."""
    body: bytes | None = None
    """The client's request body as received, for plugins that pass unknown fields through;
    None when the core built the request itself (the Responses bridge, fan-out)."""
    client_token: str | None = None
    """The client's bearer token when gateway auth is off (for upstreams that bill the caller)."""


@runtime_checkable
class Provider(Protocol):
    """One upstream family. Model ids in and out are the upstream's own, without the provider prefix.

    Every method raises only :mod:`hexgate.errors` exceptions: the client's mistakes as
    ``InvalidRequest`` (400) / ``ModelNotFound`` (404), an operation the upstream lacks as
    ``Unsupported`` (400), upstream failures as ``Upstream*`` (``from_upstream_status`` for a non-2xx
    answer, :func:`hexgate.plugin_kit.from_transport_error` for a transport failure).
    """

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        """One non-streamed chat completion (``request.stream`` is false), ``model`` set to
        ``ctx.model``; ``usage`` filled when the upstream reports it.

        Example::

            async def chat(self, request, ctx):
                r = await self.http.post(url, json=to_wire(request, ctx.model), timeout=ctx.timeout)
                return from_wire(r.json())
        """
        ...

    def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as OpenAI sends them; the first carries ``delta.role``. Usage may ride on any
        chunk; the core emits the final usage chunk when the client asked for it. An async
        generator (``async def`` with ``yield``); the core closes it (``aclose``) when the client
        leaves, and it closes its upstream response then. An error before the first chunk answers
        with its status; one after it ends the stream with an error frame. An upstream that
        answered in one piece: ``for chunk in completion_as_chunks(completion): yield chunk``.

        Example::

            async def stream_chat(self, request, ctx):
                async with self.http.stream("POST", url, json=body) as r:
                    async for event in iter_sse(r.aiter_bytes()):
                        yield chunk_from_wire(event.data)
        """
        ...

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        """Embeddings for ``request.input`` (a string, strings or token lists), one item per input in
        order; floats or base64 strings (the core converts to the client's ``encoding_format``).
        Raises ``Unsupported`` when the upstream has no embeddings.

        Example: ``raise Unsupported("this provider has no embeddings")``.
        """
        ...

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        """The Responses API answer from an upstream that speaks it natively: a :class:`Response`
        (:class:`~hexgate.schemas.responses.NativeResponse` keeps the upstream's JSON as sent), or
        for ``stream: true`` an iterator of events whose answer status is already checked
        (:func:`hexgate.plugin_kit.open_events`). Raises ``Unsupported`` for the core to bridge the
        call over ``chat`` / ``stream_chat``.

        Example: ``raise Unsupported("no /responses upstream")`` (the usual case).
        """
        ...

    async def list_models(self) -> list[Model]:
        """The upstream's models (ids without the provider prefix; the core adds it and caches
        the list). Raises the upstream's errors; a static list needs no I/O.

        Example: ``return [Model(id="gpt-4o-mini", owned_by="openai")]``.
        """
        ...


@runtime_checkable
class Startable(Protocol):
    """Optional hook: a provider with work to do before its first call (load weights, start workers,
    warm a connection). Awaited once after construction; an exception stops start-up with the
    provider named."""

    async def start(self) -> None:
        """Get ready; raises ``msgspec.ValidationError`` / ``ValueError`` for a bad setting found
        only now, or any hexgate error.

        Example::

            async def start(self):
                await self._supervisor.start()
        """
        ...


@runtime_checkable
class Closable(Protocol):
    """Optional hook: a provider holding resources of its own (processes, its own clients). Awaited
    once at shutdown (not for the ``http`` client, which the core owns); failures are logged."""

    async def aclose(self) -> None:
        """Release everything; must not raise for a provider never started.

        Example::

            async def aclose(self):
                await self._supervisor.stop()
        """
        ...


@runtime_checkable
class KeepsResponses(Protocol):
    """Optional class attribute for a provider whose ``respond`` is native: whether its upstream keeps
    the responses it answers. True (the default, also when absent): a ``previous_response_id`` hexgate
    stored for this provider goes upstream as the id. False: the core puts the stored context
    before the new input instead (an upstream that forgets, or one that refuses ``store``).

    Example: ``class HexinProvider: upstream_keeps_responses = False``.
    """

    upstream_keeps_responses: bool


@runtime_checkable
class HasParamPolicy(Protocol):
    """Optional class attribute: what the provider does with each chat parameter it does not simply
    pass on (a name missing from the mapping is ``pass``). The core names ``drop`` and ``emulate``
    parameters in the ``x-hexgate-dropped-params`` / ``x-hexgate-emulated-params`` response headers
    and refuses ``reject`` ones (400 naming the parameter), as :mod:`hexgate.params` says.

    Example: ``param_policy: ClassVar[Mapping[str, ParamPolicy]] = {"top_k": "drop", "seed": "reject"}``.
    """

    param_policy: Mapping[str, ParamPolicy]


@runtime_checkable
class TakesProxy(Protocol):
    """Optional class attribute of the factory: True when the plugin opens connections of its own
    (not through the ``http`` client the core hands it); the core then puts the effective upstream
    proxy URL (``http://``, ``https://`` or ``socks5://``) in ``settings["proxy"]``.

    Example: ``class GradioProvider: takes_proxy = True``.
    """

    takes_proxy: bool


@runtime_checkable
class Versioned(Protocol):
    """The class attribute every provider factory should declare: the :data:`PROTOCOL_VERSION` it
    was written for (none counts as the current one). The registry refuses another at start-up,
    naming both numbers.

    Example: ``class MyProvider: protocol_version = PROTOCOL_VERSION``.
    """

    protocol_version: int


@runtime_checkable
class ImageProvider(Protocol):
    """Optional: a provider that can generate images. Each item of the answer's ``data`` carries
    ``b64_json`` (preferred; the core turns it into a link when the client asked for ``url``) or
    an upstream ``url`` (only when the client asked for ``url``)."""

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext) -> ImagesResponse:
        """``request.n`` images for ``request.prompt`` (``model`` set to ``ctx.model``). Raises
        ``InvalidRequest`` for a size or option the model refuses, the upstream's errors otherwise.

        Example: ``return ImagesResponse(created=int(time.time()), data=[Image(b64_json=b64)])``.
        """
        ...


@runtime_checkable
class MessagesProvider(Protocol):
    """Optional: an upstream that speaks the Messages dialect (``POST /v1/messages``) itself; the
    client's body goes to it byte for byte (``model`` set to ``ctx.model``) and its answer comes back
    as sent. ``body`` is the client's JSON body; ``headers`` are the client's request headers
    (lower-case names, credentials and hop-by-hop headers removed): the provider passes on only those
    its upstream defines (its version and beta headers). Raises the hexgate error tree, or
    :class:`hexgate.errors.Unsupported` to have the core bridge this call over chat."""

    async def messages(
        self, body: bytes, headers: Mapping[str, str], ctx: CallContext
    ) -> bytes | AsyncIterator[RawEvent]:
        """The JSON answer as bytes, or (``"stream": true``) the events as they came, the answer's
        status already checked; the iterator has ``aclose()``."""
        ...

    async def count_tokens(self, body: bytes, headers: Mapping[str, str], ctx: CallContext) -> bytes:
        """The upstream's own ``count_tokens`` answer (``{"input_tokens": n}``) as bytes."""
        ...


@runtime_checkable
class RelaysFrames(Protocol):
    """Optional: a chat stream that hands over upstream chunks needing no change as bytes. The core's
    ``/v1/chat/completions`` calls this instead of ``stream_chat`` when it re-renders nothing itself
    (the default reasoning format); the bridges (Responses, Messages) always call ``stream_chat``.
    Decoding each event into Structs and encoding it again costs several times what forwarding its
    bytes costs (benchmarks/README.md).
    """

    def stream_chat_frames(
        self, request: ChatCompletionRequest, ctx: CallContext, *, want_usage: bool
    ) -> AsyncIterator[ChatCompletionChunk | ChunkFrames]:
        """``stream_chat``'s stream, where any run of chunks that ``stream_chat`` would yield unchanged
        may come as one :class:`~hexgate.schemas.chat.ChunkFrames` instead, as the events arrived
        (never held back to fill a batch). Frames must be exactly what the client may receive: each a
        ``chat.completion.chunk`` with the stream's one ``id``/``created``/``model``, at least one
        choice, no ``finish_reason``, no usage (``"usage": null`` only when ``want_usage``, the
        client's ``stream_options.include_usage``), nothing to normalise (reasoning fields, tool
        calls, errors); fields the upstream adds beyond OpenAI's pass through. The first chunk with
        choices, every chunk with a ``finish_reason`` and every chunk with usage are
        :class:`~hexgate.schemas.chat.ChatCompletionChunk` s, so the core sees the role, the finish
        and the usage.

        After the items of each upstream read, the stream yields
        :data:`~hexgate.schemas.chat.READ_END` (an empty ``ChunkFrames``): the core holds what it
        renders of one read and writes it to the client in one piece there, instead of one write per
        item. A stream must not hold items back past the end of the read they came in."""
        ...


class WorkerStatus(msgspec.Struct, kw_only=True):
    """One model worker process of a provider, as ``/health`` and ``/providers`` show it."""

    name: str
    state: str
    """``stopped`` | ``starting`` | ``ready`` | ``restarting`` | ``failed``."""
    pid: int | None
    restarts: int
    last_exit: str | None
    """Why the last process ended (``exited (signal 11)``), or why it is ``failed``; None before any exit."""


@runtime_checkable
class WorkerProvider(Protocol):
    """Optional: a provider whose models run in worker processes it supervises (no I/O: a snapshot)."""

    def workers(self) -> list[WorkerStatus]:
        """One :class:`WorkerStatus` per worker, in a stable order; never raises.

        Example: ``return [self._supervisor.status()]``.
        """
        ...


class ProviderFactory(Protocol):
    """What an entry point names, normally the provider class itself."""

    def __call__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> Provider:
        """Build the provider from its ``[providers.<id>]`` table (``plugin`` removed). Raises
        ``msgspec.ValidationError`` (the core adds the key path) or ``ValueError`` on a bad table;
        does no I/O (that belongs in :meth:`Startable.start`).

        Example: ``MyProvider(settings, http=client)``.
        """
        ...
