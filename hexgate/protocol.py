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
``chat`` / ``stream_chat``. Optional hooks, called when present:
``async def start(self) -> None`` after construction (load weights, warm up) and
``async def aclose(self) -> None`` at shutdown.

Optional capabilities are separate small protocols, checked with ``isinstance`` at call
time; a provider without one answers 400 ``unsupported``: :class:`ImageProvider`
(``POST /v1/images/generations``). :class:`MessagesProvider` is a provider whose upstream speaks
the Messages dialect itself; one without it is bridged over ``chat`` / ``stream_chat``. A provider
that runs models in worker processes of its own implements :class:`WorkerProvider`; ``/health`` and
``/providers`` show each worker's state.

Optional class attributes: ``param_policy: Mapping[str, ParamPolicy]`` says what the provider does
with each chat parameter it does not simply pass on (:mod:`hexgate.params` tells the client);
``takes_proxy = True`` asks the core to put the effective upstream proxy URL in ``settings["proxy"]``,
for a plugin that opens its own connections (the core's client already goes through it).

Compatibility policy. A provider declares the protocol it was written for as a literal class
attribute, ``protocol_version = 1`` (none declared counts as the current one); the registry refuses,
at start-up and naming both numbers, a plugin written for another. Within one
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

from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.images import ImageGenerationRequest, ImagesResponse
from hexgate.schemas.models import Model
from hexgate.schemas.responses import RawEvent, Response, ResponseRequest, ResponseStreamEvent

__all__ = [
    "PROTOCOL_VERSION",
    "CallContext",
    "ImageProvider",
    "MessagesProvider",
    "ParamPolicy",
    "Provider",
    "ProviderFactory",
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
    """One upstream family. Model ids in and out are the upstream's own, without the provider prefix."""

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion: ...

    def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as OpenAI sends them; the first carries ``delta.role``. Usage may ride on any
        chunk; the core emits the final usage chunk when the client asked for it."""
        ...

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse: ...

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]: ...

    async def list_models(self) -> list[Model]: ...


@runtime_checkable
class ImageProvider(Protocol):
    """Optional: a provider that can generate images. Each item of the answer's ``data`` carries
    ``b64_json`` (preferred; the core turns it into a link when the client asked for ``url``) or
    an upstream ``url`` (only when the client asked for ``url``)."""

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext) -> ImagesResponse: ...


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

    def workers(self) -> list[WorkerStatus]: ...


class ProviderFactory(Protocol):
    """What an entry point names, normally the provider class itself."""

    def __call__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> Provider: ...
