"""Puter's AI API as a hexgate provider: I/O only, through the client the core hands in.

Chat goes through Puter's driver API (``mode = "driver"``, the default: ``POST {base}/drivers/call``,
interface ``puter-chat-completion``, NDJSON when streamed) or its OpenAI-compatible endpoint
(``mode = "openai"``: ``POST {base}/puterai/openai/v1/chat/completions``, SSE, which wants a
full-access API token). Images go through the driver (``puter-image-generation``, a binary image
answer). Models come from ``GET {base}/puterai/chat/models/details``. Wire format:
../shared/upstreams.md §6; mappings: :mod:`hexgate_puter.translate`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Literal

import httpx
import msgspec
from msgspec import UNSET

from hexgate.errors import (
    AuthenticationFailed,
    HexgateError,
    Unsupported,
    UpstreamError,
)
from hexgate.plugin_kit import completion_as_chunks, from_transport_error, iter_lines, iter_sse, retry_after
from hexgate.protocol import PROTOCOL_VERSION, CallContext, ParamPolicy
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, StreamOptions
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.images import GeneratedImage, ImageGenerationRequest, ImagesResponse
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_puter import translate, wire

__all__ = ["PuterProvider", "PuterSettings"]

_DRIVER_HEADERS = {"content-type": "text/plain;actually=json", "accept": "application/x-ndjson, application/json"}
_IMAGE_FORMATS = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif"}

_encoder = msgspec.json.Encoder()
_envelope = msgspec.json.Decoder(wire.ChatEnvelope)
_line = msgspec.json.Decoder(wire.StreamLine)
_models = msgspec.json.Decoder(wire.ModelsAnswer | list[wire.ModelEntry | str])


class PuterSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[providers.<id>]`` with ``plugin = "puter"``; see the plugin README's table."""

    auth_token: str | None = None
    """Puter auth token (``${PUTER_AUTH_TOKEN}``); unset or empty: the client's bearer token is used."""
    base_url: str = "https://api.puter.com"
    mode: Literal["driver", "openai"] = "driver"
    backend: str | None = None
    """Puter's ``provider`` arg: which of its backends serves chat (e.g. ``openrouter``)."""
    models: list[str] | None = None
    """A fixed chat model list instead of asking Puter."""
    image_models: list[str] = msgspec.field(default_factory=lambda: ["gpt-image-1-mini"])
    """Image models to list (any model id is passed to Puter as asked)."""
    test_mode: bool = False
    """Puter's ``test_mode``: canned answers that cost nothing (driver calls only)."""


@contextlib.contextmanager
def _transport_errors(base: str) -> Iterator[None]:
    """httpx failures → the hexgate error tree (:func:`hexgate.plugin_kit.from_transport_error`)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise from_transport_error(exc, upstream=f"Puter at {base}") from None


def _image_format(data: bytes) -> str | None:
    for magic, name in _IMAGE_FORMATS.items():
        if data.startswith(magic):
            return name
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


class PuterProvider:
    """A :class:`hexgate.protocol.Provider` and :class:`hexgate.protocol.ImageProvider` for Puter."""

    protocol_version = PROTOCOL_VERSION
    param_policy: ClassVar[Mapping[str, ParamPolicy]] = {
        **dict.fromkeys(
            ("stop", "seed", "top_p", "top_k", "presence_penalty", "frequency_penalty", "logit_bias"), "drop"
        ),
        **dict.fromkeys(("response_format", "top_logprobs", "user", "metadata"), "drop"),
        "n": "reject",
        "logprobs": "reject",
    }
    """Puter's driver call takes messages, temperature, max_tokens, tools and reasoning_effort only."""

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), PuterSettings)
        if not self.settings.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, not {self.settings.base_url!r}")
        self._base = self.settings.base_url.rstrip("/")
        self._http = http

    # ------------------------------------------------------------ helpers

    def _token(self, ctx: CallContext) -> tuple[str, bool]:
        """The token to send and whether it is the client's own."""
        if self.settings.auth_token:
            return self.settings.auth_token, False
        if ctx.client_token:
            return ctx.client_token, True
        raise AuthenticationFailed(
            "this Puter provider has no auth_token configured: send your Puter token as the bearer key",
            code="invalid_api_key",
        )

    def _driver_call(self, interface: str, driver: str, method: str, args: Any, token: str) -> bytes:
        call = wire.DriverCall(
            interface=interface, driver=driver, method=method, args=args, test_mode=self.settings.test_mode
        )
        call.auth_token = token
        return _encoder.encode(call)

    def _failure(self, status: int, headers: httpx.Headers, body: bytes, client_token: bool) -> HexgateError:
        """The error for a non-2xx answer or a ``success: false`` body."""
        try:
            env = _envelope.decode(body)
            code, message, inner = translate.error_details(env.error, code=env.code, message=env.message)
        except (msgspec.DecodeError, msgspec.ValidationError):
            code, message, inner = None, body[:200].decode("utf-8", "replace").strip() or None, None
        effective = status if status >= 400 else (inner or status)
        return translate.map_error(
            status=effective, code=code, message=message, retry_after=retry_after(headers), client_token=client_token
        )

    def _result(self, status: int, headers: httpx.Headers, body: bytes, client_token: bool) -> wire.ChatResult:
        if status >= 400:
            raise self._failure(status, headers, body, client_token)
        try:
            env = _envelope.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamError("Puter's chat answer is not the JSON envelope it documents") from None
        if not env.success or env.result is None:
            raise self._failure(status, headers, body, client_token)
        return env.result

    # ------------------------------------------------------------ chat

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        if self.settings.mode == "openai":
            return await self._openai_chat(request, ctx)
        token, mine = self._token(ctx)
        args = translate.chat_args(request, model=ctx.model, stream=False, provider=self.settings.backend)
        payload = self._driver_call("puter-chat-completion", "ai-chat", "complete", args, token)
        with _transport_errors(self._base):
            resp = await self._http.post(f"{self._base}/drivers/call", content=payload, headers=_DRIVER_HEADERS)
        result = self._result(resp.status_code, resp.headers, resp.content, mine)
        return translate.completion_from(
            result, model=ctx.model, cid=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time())
        )

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        if self.settings.mode == "openai":
            async for chunk in self._openai_stream(request, ctx):
                yield chunk
            return
        token, mine = self._token(ctx)
        args = translate.chat_args(request, model=ctx.model, stream=True, provider=self.settings.backend)
        payload = self._driver_call("puter-chat-completion", "ai-chat", "complete", args, token)
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        state = translate.StreamTranslator(cid=cid, created=created, model=ctx.model, client_token=mine)
        with _transport_errors(self._base):
            async with self._http.stream(
                "POST", f"{self._base}/drivers/call", content=payload, headers=_DRIVER_HEADERS
            ) as resp:
                kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if resp.status_code >= 400 or kind == "application/json":
                    body = await resp.aread()
                    result = self._result(resp.status_code, resp.headers, body, mine)
                    whole = translate.completion_from(result, model=ctx.model, cid=cid, created=created)
                    for chunk in completion_as_chunks(whole):
                        yield chunk
                    return
                async for raw in iter_lines(resp.aiter_bytes()):
                    if not raw.strip():
                        continue
                    try:
                        line = _line.decode(raw)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        raise UpstreamError("Puter sent a stream line that is not JSON") from None
                    for chunk in state.feed(line):
                        yield chunk
                yield state.finish()

    # ------------------------------------------------------------ OpenAI-compatible mode

    def _openai_request(self, request: ChatCompletionRequest, ctx: CallContext, *, stream: bool) -> bytes:
        body = msgspec.structs.replace(request, model=ctx.model, stream=stream)
        body.stream_options = StreamOptions(include_usage=True) if stream else UNSET
        return _encoder.encode(body)

    def _openai_headers(self, ctx: CallContext) -> tuple[dict[str, str], bool]:
        token, mine = self._token(ctx)
        return {"authorization": f"Bearer {token}", "content-type": "application/json"}, mine

    async def _openai_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        headers, mine = self._openai_headers(ctx)
        with _transport_errors(self._base):
            resp = await self._http.post(
                f"{self._base}/puterai/openai/v1/chat/completions",
                content=self._openai_request(request, ctx, stream=False),
                headers=headers,
            )
        if resp.status_code >= 400:
            raise self._failure(resp.status_code, resp.headers, resp.content, mine)
        try:
            data = msgspec.json.decode(resp.content)
        except msgspec.DecodeError:
            raise UpstreamError("Puter's OpenAI-compatible answer is not JSON") from None
        if not isinstance(data, dict) or data.get("success") is False or "error" in data:
            raise self._failure(resp.status_code, resp.headers, resp.content, mine)
        try:
            return translate.openai_completion(data)
        except (msgspec.ValidationError, TypeError, KeyError):
            raise UpstreamError("Puter's OpenAI-compatible answer is not a chat completion") from None

    async def _openai_stream(
        self, request: ChatCompletionRequest, ctx: CallContext
    ) -> AsyncIterator[ChatCompletionChunk]:
        headers, mine = self._openai_headers(ctx)
        with _transport_errors(self._base):
            async with self._http.stream(
                "POST",
                f"{self._base}/puterai/openai/v1/chat/completions",
                content=self._openai_request(request, ctx, stream=True),
                headers=headers,
            ) as resp:
                kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if resp.status_code >= 400 or kind == "application/json":
                    body = await resp.aread()
                    raise self._failure(resp.status_code, resp.headers, body, mine)
                async for event in iter_sse(resp.aiter_bytes()):
                    if event.data.strip() == "[DONE]":
                        break
                    try:
                        data = msgspec.json.decode(event.data)
                    except msgspec.DecodeError:
                        raise UpstreamError("Puter sent a stream event that is not JSON") from None
                    if isinstance(data, dict) and ("error" in data or data.get("success") is False):
                        code, message, status = translate.error_details(
                            data.get("error"), code=data.get("code"), message=data.get("message")
                        )
                        raise translate.map_error(status=status or 200, code=code, message=message, client_token=mine)
                    try:
                        yield translate.openai_chunk(data)
                    except (msgspec.ValidationError, TypeError):
                        raise UpstreamError("Puter sent a stream event that is not a chat chunk") from None

    # ------------------------------------------------------------ images

    async def generate_image(self, request: ImageGenerationRequest, ctx: CallContext) -> ImagesResponse:
        """``n`` driver calls to ``puter-image-generation`` in parallel; each binary answer becomes
        one ``b64_json`` item (the core makes links for ``response_format: "url"``)."""
        token, mine = self._token(ctx)
        payload = self._driver_call(
            "puter-image-generation", "ai-image", "generate", translate.image_args(request, model=ctx.model), token
        )
        tasks = [asyncio.ensure_future(self._one_image(payload, mine)) for _ in range(request.count())]
        try:
            images = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        answer = ImagesResponse(
            created=int(time.time()),
            data=[GeneratedImage(b64_json=base64.b64encode(image).decode("ascii")) for image in images],
        )
        fmt = _image_format(images[0]) if images else None
        if fmt:
            answer.output_format = fmt
        return answer

    async def _one_image(self, payload: bytes, client_token: bool) -> bytes:
        with _transport_errors(self._base):
            resp = await self._http.post(f"{self._base}/drivers/call", content=payload, headers=_DRIVER_HEADERS)
        if resp.status_code >= 400:
            raise self._failure(resp.status_code, resp.headers, resp.content, client_token)
        image = translate.image_bytes(resp.headers.get("content-type", ""), resp.content)
        if image is not None:
            return image
        try:
            env = _envelope.decode(resp.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            env = None
        if env is not None and (not env.success or env.error is not None):
            raise self._failure(resp.status_code, resp.headers, resp.content, client_token)
        raise UpstreamError("Puter answered the image request with something that is not an image")

    # ------------------------------------------------------------ the rest

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        raise Unsupported("Puter offers no embeddings")

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the Puter plugin has no native Responses API; the core bridges over chat")

    async def list_models(self) -> list[Model]:
        """Chat models from ``settings.models`` or Puter's public list (``/puterai/chat/models/details``,
        falling back to ``/puterai/chat/models`` when that is missing), then the image models."""
        if self.settings.models is not None:
            entries: list[wire.ModelEntry | str] = list(self.settings.models)
        else:
            entries = await self._fetch_models()
        seen: set[str] = set()
        models: list[Model] = []
        for entry in entries:
            model = translate.model_from(entry)
            if model.id not in seen:
                seen.add(model.id)
                models.append(model)
        for name in self.settings.image_models:
            if name not in seen:
                seen.add(name)
                models.append(Model(id=name, owned_by="puter", capabilities=ModelCapabilities(chat=False)))
        return models

    async def _fetch_models(self) -> list[wire.ModelEntry | str]:
        resp = None
        for path in ("/puterai/chat/models/details", "/puterai/chat/models"):
            with _transport_errors(self._base):
                resp = await self._http.get(f"{self._base}{path}", headers={"accept": "application/json"})
            if resp.status_code != 404:
                break
        assert resp is not None
        if resp.status_code >= 400:
            raise self._failure(resp.status_code, resp.headers, resp.content, False)
        try:
            answer = _models.decode(resp.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamError("Puter's model list is not the JSON it documents") from None
        return answer.models if isinstance(answer, wire.ModelsAnswer) else answer
