"""The Hexin / HiThink backend (upstreams.md §7): I/O only, through the ``httpx.AsyncClient`` the core
hands in; the mapping lives in :mod:`hexgate_hexin.translate`, the backend's shapes in
:mod:`hexgate_hexin.wire`, the token in :mod:`hexgate_hexin.auth`.

Settings (``[providers.<id>]``, ``plugin = "hexin"``): see the README's table.

- Chat: ``POST <base_url>/<symbol>/<version>/chat/completions`` (route by model), OpenAI's body.
  Streamed: the backend's own stream format is undocumented, so an ``text/event-stream`` answer is
  read as OpenAI chunks and a single JSON body is turned into chunks.
- Responses: ``POST <response_url>`` with the client's own body; streams relay the backend's SSE
  events as they come (:func:`hexgate.plugin_kit.open_events`); headers ``arsenal-openai-hash`` / ``X-Trace-Id``
  carry a session key for node affinity. Without ``response_url`` the core bridges over chat.
- Embeddings: ``POST <base_url>/chatgpt/v1/embeddings``, **form-urlencoded** ``input`` + ``model``,
  one request per input (the reference client sends a list as its Python repr; we do not rely on that).
- Models: the static ``models`` list.

Every backend call sends ``userId`` / ``token``; a refusal of the token (HTTP 401/403, or the same
reported in the body) fetches a new one and tries once more. Failures reported in the body with
HTTP 200 map to their real status (:func:`hexgate_hexin.translate.body_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx
import msgspec

from hexgate.errors import (
    HexgateError,
    InvalidRequest,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
)
from hexgate.plugin_kit import (
    completion_as_chunks,
    from_transport_error,
    iter_sse,
    open_events,
    request_payload,
    retry_after,
)
from hexgate.protocol import PROTOCOL_VERSION, CallContext, ParamPolicy
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import NativeResponse, Response, ResponseRequest, ResponseStreamEvent
from hexgate_hexin.auth import Token, TokenCache
from hexgate_hexin.translate import (
    RouteOverride,
    backend_route,
    body_error,
    build_embeddings,
    chat_body,
    chunk_from_wire,
    completion_from_wire,
    embeddings_payload,
    scrub,
    status_error,
    unwrap,
)
from hexgate_hexin.wire import WireCompletion, WireEmbeddings, WireEnvelope

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODELS", "HexinProvider", "HexinSettings"]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://arsenal-openai.10jqka.com.cn:8443/vtuber/ai_access"
DEFAULT_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
    "gemini",
    "deepseek-chat",
    "deepseek-reasoner",
    "doubao-deepseek-v3",
    "doubao-deepseek-r1",
    "r1-qianfan",
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
]
_EXTRA_KEYS = ("thinking",)
_encoder = msgspec.json.Encoder()
_envelope = msgspec.json.Decoder(WireEnvelope)
_completion = msgspec.json.Decoder(WireCompletion)
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])


class HexinSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One ``[providers.<id>]`` table for ``plugin = "hexin"`` (the README's table)."""

    app_id: str
    app_secret: str
    app_url: str
    base_url: str = DEFAULT_BASE_URL
    response_url: str | None = None
    embeddings_path: str = "/chatgpt/v1/embeddings"
    models: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_MODELS))
    routes: dict[str, RouteOverride] = msgspec.field(default_factory=dict)
    token_ttl: float = 3600.0
    refresh_margin: float = 300.0
    embed_concurrency: int = 8


class _TokenRefused(Exception):
    """The backend refused our token; carries the error to raise if a fresh one is refused too."""

    def __init__(self, error: HexgateError) -> None:
        super().__init__(error.message)
        self.error = error


def _check(raw: bytes, *, retry_after: float | None = None, secrets: tuple[str, ...] = ()) -> WireEnvelope:
    """The answer's envelope; raises what its body reports (a token refusal as :class:`_TokenRefused`),
    scrubbed of ``secrets``."""
    try:
        envelope = _envelope.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        shown = scrub(repr(raw[:200]), secrets)
        raise UpstreamError(f"the Hexin backend sent an unreadable answer: {shown}") from None
    error = body_error(envelope, retry_after=retry_after, secrets=secrets)
    if isinstance(error, UpstreamAuthError):
        raise _TokenRefused(error)
    if error is not None:
        raise error
    return envelope


_BACKEND = "the Hexin backend"


class HexinProvider:
    """A :class:`hexgate.protocol.Provider` for the Hexin backend.

    Raises ``msgspec.ValidationError`` for a bad settings table and ``ValueError`` for an empty
    ``app_id`` / ``app_secret`` / ``app_url`` or a URL that is not http(s).
    """

    protocol_version = PROTOCOL_VERSION
    param_policy: ClassVar[Mapping[str, ParamPolicy]] = {"top_k": "drop", "metadata": "drop"}
    """The backend takes the OpenAI parameters in ``translate._OPTIONAL``; these two are not sent."""
    upstream_keeps_responses = False
    """The backend's Responses state lives on whichever node served a call: hexgate always sends the
    history itself on ``previous_response_id`` instead of relying on it."""

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), HexinSettings)
        s = self.settings
        for name in ("app_id", "app_secret", "app_url"):
            if not getattr(s, name).strip():
                raise ValueError(f'{name} is empty: set it (e.g. {name} = "${{HITHINK_{name.upper()}}}")')
        for name in ("app_url", "base_url", "response_url"):
            value = getattr(s, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must start with http:// or https://, not {value!r}")
        self.http = http
        self.base_url = s.base_url.rstrip("/")
        self.auth = TokenCache(
            http=http, url=s.app_url, app_id=s.app_id, app_secret=s.app_secret, ttl=s.token_ttl, margin=s.refresh_margin
        )

    # ------------------------------------------------------------ transport

    def _secrets(self, token: Token) -> tuple[str, str]:
        """What the backend may echo in an error text and must never reach a client or a log."""
        return (self.settings.app_secret, token.token)

    @contextlib.asynccontextmanager
    async def _open(
        self,
        url: str,
        token: Token,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send one call with the token's headers; yield the (unread) 2xx answer and close it on exit.
        A non-2xx answer raises its error (401/403 as :class:`_TokenRefused`)."""
        sent = {**token.headers(), "accept": "text/event-stream" if stream else "application/json", **(headers or {})}
        if json is not None:
            sent["content-type"] = "application/json"
            request = self.http.build_request("POST", url, content=_encoder.encode(json), headers=sent)
        else:
            request = self.http.build_request("POST", url, data=dict(form or {}), headers=sent)
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream=_BACKEND) from None
        try:
            if not response.is_success:
                raw = await response.aread()
                retry = retry_after(response.headers)
                secrets = self._secrets(token)
                error = status_error(response.status_code, raw, retry_after=retry, secrets=secrets)
                if response.status_code in (401, 403) or isinstance(error, UpstreamAuthError):
                    raise _TokenRefused(error)
                raise error
            yield response
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream=_BACKEND, mid_answer=True) from None
        finally:
            await response.aclose()

    async def _with_token(self, op: Callable[[Token], Awaitable[T]]) -> T:
        """Run ``op`` with a token; when the backend refuses it, once more with a fresh one."""
        token = await self.auth.get()
        try:
            return await op(token)
        except _TokenRefused:
            self.auth.invalidate(token)
        token = await self.auth.get()
        try:
            return await op(token)
        except _TokenRefused as refused:
            self.auth.invalidate(token)
            raise refused.error from None

    async def _post_json(
        self,
        url: str,
        *,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[bytes, WireEnvelope]:
        """A non-streamed call: its raw answer and envelope, in-body failures raised."""

        async def op(token: Token) -> tuple[bytes, WireEnvelope]:
            async with self._open(url, token, json=json, form=form, headers=headers) as response:
                raw = await response.aread()
            return raw, _check(raw, retry_after=retry_after(response.headers), secrets=self._secrets(token))

        return await self._with_token(op)

    # ------------------------------------------------------------ operations

    def _extra(self, ctx: CallContext) -> dict[str, Any]:
        if ctx.body is None:
            return {}
        try:
            fields = _fields.decode(ctx.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return {}
        return {k: msgspec.json.decode(fields[k]) for k in _EXTRA_KEYS if k in fields}

    def _decode_completion(self, raw: bytes, *, model: str) -> ChatCompletion:
        try:
            wire = _completion.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"the Hexin backend sent an unreadable chat completion: {exc}") from None
        if not wire.choices:
            raise UpstreamError("the Hexin backend sent a chat completion without choices")
        return completion_from_wire(wire, model=model)

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        route = backend_route(ctx.model, self.settings.routes)
        body = chat_body(request, route, stream=False, extra=self._extra(ctx))
        raw, envelope = await self._post_json(self.base_url + route.path, json=body)
        return self._decode_completion(unwrap(envelope, raw), model=ctx.model)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        route = backend_route(ctx.model, self.settings.routes)
        body = chat_body(request, route, stream=True, extra=self._extra(ctx))
        url = self.base_url + route.path
        token = await self.auth.get()
        started = False
        for attempt in (0, 1):
            try:
                async with self._open(url, token, json=body, stream=True) as response:
                    if "event-stream" in response.headers.get("content-type", ""):
                        async for event in iter_sse(response.aiter_bytes()):
                            data = event.data.strip()
                            if not data:
                                continue
                            if data == "[DONE]":
                                break
                            raw = data.encode()
                            envelope = _check(raw, secrets=self._secrets(token))
                            wire = _completion.decode(unwrap(envelope, raw))
                            chunk = chunk_from_wire(wire, model=ctx.model)
                            if chunk is not None:
                                started = True
                                yield chunk
                    else:  # one JSON answer for the whole completion
                        raw = await response.aread()
                        envelope = _check(raw, secrets=self._secrets(token))
                        completion = self._decode_completion(unwrap(envelope, raw), model=ctx.model)
                        for chunk in completion_as_chunks(completion):
                            started = True
                            yield chunk
                return
            except _TokenRefused as refused:
                self.auth.invalidate(token)
                if attempt or started:
                    raise refused.error from None
                token = await self.auth.get()
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamError(f"the Hexin backend sent an unreadable stream chunk: {exc}") from None

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        inputs = request.inputs()
        if not all(isinstance(item, str) for item in inputs):
            raise InvalidRequest("the Hexin backend embeds text only, not token arrays", param="input")
        texts = [item for item in inputs if isinstance(item, str)]
        url = self.base_url + self.settings.embeddings_path
        gate = asyncio.Semaphore(max(1, self.settings.embed_concurrency))

        async def one(text: str) -> WireEmbeddings:
            form = {"input": text, "model": ctx.model}
            if isinstance(request.dimensions, int):
                form["dimensions"] = str(request.dimensions)
            async with gate:
                raw, envelope = await self._post_json(url, form=form)
            try:
                return embeddings_payload(raw, envelope)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamError(f"the Hexin backend sent an unreadable embeddings answer: {exc}") from None

        parts = await asyncio.gather(*(one(text) for text in texts))
        if any(not part.data for part in parts):
            raise UpstreamError("the Hexin backend sent an embeddings answer without vectors")
        return build_embeddings(list(parts), model=ctx.model, inputs=texts)

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        url = self.settings.response_url
        if not url:
            raise Unsupported("no response_url is configured for this Hexin provider; the gateway bridges over chat")
        payload = request_payload(request, ctx)
        session = next(
            (
                v
                for v in (request.prompt_cache_key, request.safety_identifier, request.user)
                if isinstance(v, str) and v
            ),
            ctx.request_id or "hexgate",
        )
        headers = {"arsenal-openai-hash": session, "X-Trace-Id": session}
        if request.stream is True:

            async def open_stream(token: Token) -> AsyncIterator[ResponseStreamEvent]:
                return await open_events(
                    self._open(url, token, json=payload, stream=True, headers=headers),
                    not_a_stream=functools.partial(_not_a_stream, secrets=self._secrets(token)),
                )

            return await self._with_token(open_stream)
        raw, envelope = await self._post_json(url, json=payload, headers=headers)
        try:
            return NativeResponse.from_json(unwrap(envelope, raw))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamError(f"the Hexin backend sent an unreadable response object: {exc}") from None

    async def list_models(self) -> list[Model]:
        models = []
        for model in self.settings.models:
            if model.startswith("text-embedding"):
                caps = ModelCapabilities(embeddings=True)
            else:
                reasoning = "reasoner" in model or "r1" in model or model.startswith(("o3", "o4"))
                caps = ModelCapabilities(chat=True, tools=True, streaming=True, reasoning=reasoning or msgspec.UNSET)
            models.append(Model(id=model, owned_by="hexin", capabilities=caps))
        return models


def _not_a_stream(response: httpx.Response, body: bytes, *, secrets: tuple[str, ...] = ()) -> BaseException:
    """A streamed Responses call answered with JSON: the failure it reports (a token refusal retries)."""
    try:
        _check(body, secrets=secrets)
    except (HexgateError, _TokenRefused) as exc:
        return exc
    kind = response.headers.get("content-type") or "no content type"
    return UpstreamError(f"the Hexin backend answered a streamed request with {kind}, not an event stream")
