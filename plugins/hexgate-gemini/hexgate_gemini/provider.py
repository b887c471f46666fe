"""The Gemini provider: I/O through the official ``google-genai`` SDK and the core's HTTP client.

One ``genai.Client`` per provider, built at start-up with
``HttpOptions(base_url, api_version, timeout, httpx_async_client=<the core's client>)`` so every
upstream call goes through the connection pool the core owns (google-genai ≥ 1.50 accepts an
injected ``httpx.AsyncClient``; it then uses neither its own httpx pool nor aiohttp for async
calls). Automatic function calling is always disabled: a gateway never runs tools. Settings:
:mod:`hexgate_gemini.settings`; translation: :mod:`hexgate_gemini.translate` (requests) and
:mod:`hexgate_gemini.reply` (answers); error mapping: :mod:`hexgate_gemini.errors`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx
import msgspec
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from hexgate.errors import HexgateError, InvalidRequest, Unsupported, UpstreamError
from hexgate.plugin_kit import from_transport_error
from hexgate.protocol import PROTOCOL_VERSION, CallContext, ParamPolicy
from hexgate.schemas.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from hexgate.schemas.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_gemini import errors, reply, translate
from hexgate_gemini.images import fetch_images
from hexgate_gemini.settings import GeminiSettings

__all__ = ["GeminiProvider"]

T = TypeVar("T")

_DEFAULT_TIMEOUT = 600.0

_OPENED: contextvars.ContextVar[list[httpx.Response] | None] = contextvars.ContextVar("_OPENED", default=None)
"""While a stream is being opened: where the response hook records the upstream response, so that
the stream's ``finally`` can close it at once (the SDK's nested generators release it only when
garbage-collected)."""


async def _record_response(response: httpx.Response) -> None:
    opened = _OPENED.get()
    if opened is not None:
        opened.append(response)


_ANSWERING: contextvars.ContextVar[bool] = contextvars.ContextVar("_ANSWERING", default=False)
"""True while this provider awaits a non-streamed SDK call: the only answers :func:`_check_answer` reads."""


async def _check_answer(response: httpx.Response) -> None:
    """Raise the failure a 2xx JSON answer carries as its body (:func:`errors.body_error`): the SDK
    would read ``{"error": {...}}`` with a 200 as an empty answer. The SDK reads these bodies whole
    anyway; event streams are left alone (the SDK raises on their error chunks)."""
    if not _ANSWERING.get() or not response.is_success:
        return
    if "json" not in response.headers.get("content-type", "json"):
        return
    await response.aread()
    secrets = errors.sent_credentials(response.request.headers)
    failure = errors.body_error(response.content, retry_after=errors.header_delay(response), secrets=secrets)
    if failure is not None:
        raise failure


def _mapped(exc: Exception) -> HexgateError | None:
    """The hexgate error for an SDK or transport failure; None for anything else."""
    if isinstance(exc, HexgateError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        return errors.from_api_error(exc)
    if isinstance(exc, httpx.HTTPError):
        return from_transport_error(exc, upstream="gemini")
    if isinstance(exc, (pydantic.ValidationError, genai_errors.UnknownApiResponseError, json.JSONDecodeError)):
        return UpstreamError(f"gemini sent an answer hexgate cannot read: {type(exc).__name__}")
    if isinstance(exc, ValueError):  # google-genai's own checks before or after the call
        return UpstreamError(f"google-genai refused the call: {exc}")
    return None


async def _call(operation: Callable[[], Awaitable[T]]) -> T:
    token = _ANSWERING.set(True)
    try:
        return await operation()
    except Exception as exc:
        mapped = _mapped(exc)
        if mapped is None or mapped is exc:
            raise
        raise mapped from None
    finally:
        _ANSWERING.reset(token)


class GeminiProvider:
    """A :class:`hexgate.protocol.Provider` for the Gemini Developer API or Vertex AI."""

    protocol_version = PROTOCOL_VERSION
    param_policy: ClassVar[Mapping[str, ParamPolicy]] = {"logit_bias": "reject", "metadata": "drop", "user": "drop"}
    """Gemini has no token biasing; ``metadata`` and ``user`` have no place in its request."""

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), GeminiSettings)
        self._http = http
        hooks = http.event_hooks.get("response", [])
        missing = [h for h in (_record_response, _check_answer) if h not in hooks]
        if missing:
            http.event_hooks = {**http.event_hooks, "response": [*hooks, *missing]}
        s = self.settings
        api_key = s.api_key or os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not s.vertexai and not api_key:
            raise ValueError('api_key is required (set it, e.g. api_key = "${GEMINI_API_KEY}", or use vertexai)')
        if s.vertexai and not api_key and not (s.project and s.location):
            raise ValueError("vertexai mode needs project and location (or an express-mode api_key)")
        timeout = s.timeout or http.timeout.read or _DEFAULT_TIMEOUT
        options = types.HttpOptions(
            base_url=s.base_url,
            api_version=s.api_version,
            timeout=int(timeout * 1000),
            httpx_async_client=http,
        )
        try:
            if s.vertexai:
                self._client = genai.Client(
                    vertexai=True,
                    api_key=api_key if not (s.project and s.location) else None,
                    project=s.project,
                    location=s.location,
                    http_options=options,
                )
            else:
                self._client = genai.Client(api_key=api_key, http_options=options)
        except Exception as exc:  # google-auth and pydantic errors at construction
            raise ValueError(f"google-genai refused the settings: {type(exc).__name__}: {exc}") from None

    # ---------------------------------------------------------------- chat

    async def _prepare(self, request: ChatCompletionRequest, ctx: CallContext) -> translate.GeminiCall:
        urls = translate.remote_images(request)
        images = await fetch_images(
            self._http,
            urls,
            max_bytes=self.settings.image_max_bytes,
            allow_private=self.settings.image_fetch_private,
            max_count=self.settings.image_max_count,
            concurrency=self.settings.image_fetch_concurrency,
        )
        return translate.to_gemini(request, model=ctx.model, settings=self.settings, images=images)

    def _fan_out(self, request: ChatCompletionRequest) -> int:
        n = request.n if isinstance(request.n, int) else 1
        return n if self.settings.n_strategy == "fan_out" and n > 1 else 1

    async def _generate(self, call: translate.GeminiCall, model: str) -> types.GenerateContentResponse:
        return await _call(
            lambda: self._client.aio.models.generate_content(model=model, contents=call.contents, config=call.config)
        )

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        call = await self._prepare(request, ctx)
        parallel = request.parallel_tool_calls is not False
        created = int(time.time())
        copies = self._fan_out(request)
        answers = await asyncio.gather(*(self._generate(call, ctx.model) for _ in range(copies)))
        completions = [
            reply.to_completion(a, model=ctx.model, created=created, parallel_tool_calls=parallel, index_offset=i)
            for i, a in enumerate(answers)
        ]
        first = completions[0]
        for other in completions[1:]:
            first.choices.extend(other.choices)
            usage = reply.add_usage(first.usage or None, other.usage or None)
            if usage is not None:
                first.usage = usage
        return first

    async def _open(self, call: translate.GeminiCall, model: str) -> AsyncIterator[types.GenerateContentResponse]:
        return await _call(
            lambda: self._client.aio.models.generate_content_stream(
                model=model, contents=call.contents, config=call.config
            )
        )

    async def _relay(
        self, call: translate.GeminiCall, model: str, translator: reply.StreamTranslator
    ) -> AsyncGenerator[list[ChatCompletionChunk], None]:
        """One upstream stream, translated; the upstream response is closed on exit, however it ends."""
        opened: list[httpx.Response] = []
        stream: AsyncIterator[types.GenerateContentResponse] | None = None
        try:
            token = _OPENED.set(opened)  # the SDK sends the request on the first step, not on the call
            try:
                stream = await self._open(call, model)
                response = await anext(stream, None)
            finally:
                _OPENED.reset(token)
            while response is not None:
                chunks = translator.feed(response)
                if chunks:
                    yield chunks
                response = await anext(stream, None)
        except Exception as exc:
            raise _mapped(exc) or exc from None
        finally:
            for opened_response in opened:
                await opened_response.aclose()
            if stream is not None:
                await _aclose(stream)

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        call = await self._prepare(request, ctx)
        parallel = request.parallel_tool_calls is not False
        created = int(time.time())
        copies = self._fan_out(request)
        if copies == 1:
            translator = reply.StreamTranslator(model=ctx.model, created=created, parallel_tool_calls=parallel)
            relay = self._relay(call, ctx.model, translator)
            try:
                async for chunks in relay:
                    for chunk in chunks:
                        yield chunk
            finally:
                await relay.aclose()
            for chunk in translator.close():
                yield chunk
            return
        async for chunk in self._stream_fan_out(call, ctx, copies, created=created, parallel=parallel):
            yield chunk

    async def _stream_fan_out(
        self, call: translate.GeminiCall, ctx: CallContext, copies: int, *, created: int, parallel: bool
    ) -> AsyncIterator[ChatCompletionChunk]:
        """``n`` by fan-out: ``copies`` upstream streams, interleaved as they come, choice ``i`` from stream ``i``."""
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        translators = [
            reply.StreamTranslator(
                model=ctx.model, created=created, id=cid, parallel_tool_calls=parallel, index_offset=i
            )
            for i in range(copies)
        ]
        queue: asyncio.Queue[list[ChatCompletionChunk] | BaseException | None] = asyncio.Queue()

        async def pump(translator: reply.StreamTranslator) -> None:
            relay = self._relay(call, ctx.model, translator)
            try:
                async for chunks in relay:
                    await queue.put(chunks)
                await queue.put(None)
            except Exception as exc:
                await queue.put(exc)
            finally:
                await relay.aclose()

        tasks = [asyncio.create_task(pump(t)) for t in translators]
        try:
            done = 0
            while done < copies:
                item = await queue.get()
                if item is None:
                    done += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    for chunk in item:
                        yield chunk
            usage = None
            tail: list[ChatCompletionChunk] = []
            for translator in translators:
                tail.extend(translator.close(with_usage=False))
                usage = reply.add_usage(usage, translator.usage)
            if usage is not None:
                tail[-1].usage = usage
            for chunk in tail:
                yield chunk
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ---------------------------------------------------------------- embeddings, models

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        texts = request.inputs()
        if not all(isinstance(t, str) for t in texts):
            raise InvalidRequest("Gemini embeds text only; token arrays are not supported", param="input")
        strings = [t for t in texts if isinstance(t, str)]
        config = types.EmbedContentConfig(
            output_dimensionality=request.dimensions if isinstance(request.dimensions, int) else None,
            task_type=self.settings.embedding_task_type,
        )
        answer = await _call(
            lambda: self._client.aio.models.embed_content(
                model=ctx.model,
                contents=strings,  # type: ignore[arg-type]
                config=config,
            )
        )
        vectors = answer.embeddings or []
        if len(vectors) != len(strings):
            raise UpstreamError(f"gemini returned {len(vectors)} embeddings for {len(strings)} inputs")
        data = [Embedding(index=i, embedding=list(v.values or [])) for i, v in enumerate(vectors)]
        counted = [v.statistics.token_count for v in vectors if v.statistics and v.statistics.token_count]
        tokens = int(sum(counted)) if counted else sum((len(s) + 3) // 4 for s in strings)
        usage = EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens)
        return EmbeddingResponse(data=data, model=ctx.model, usage=usage)

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("gemini has no native Responses API; the core bridges over chat")

    async def list_models(self) -> list[Model]:
        async def collect() -> list[types.Model]:
            pager = await self._client.aio.models.list(config=types.ListModelsConfig(page_size=1000))
            return [m async for m in pager]

        models = await _call(collect)
        return [_model(m) for m in models if m.name]

    async def aclose(self) -> None:
        """Close what the SDK opened itself (never the core's client, which the SDK leaves alone)."""
        await self._client.aio.aclose()
        self._client.close()


def _model(m: types.Model) -> Model:
    actions = set(m.supported_actions or [])
    chat = "generateContent" in actions
    embeds = bool(actions & {"embedContent", "batchEmbedContents"})
    caps = ModelCapabilities(chat=chat, embeddings=embeds, streaming=chat or "streamGenerateContent" in actions)
    if m.thinking is not None:
        caps.reasoning = m.thinking
    model = Model(id=(m.name or "").removeprefix("models/"), owned_by="google", capabilities=caps)
    if m.display_name:
        model.display_name = m.display_name
    if m.input_token_limit:
        model.context_window = m.input_token_limit
    if m.output_token_limit:
        model.max_output_tokens = m.output_token_limit
    return model


async def _aclose(stream: Any) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        await closer()
