"""Gradio apps (Hugging Face Spaces or any Gradio URL) as chat models, through ``gradio_client``.

Settings (``[providers.<id>]``, plugin = "gradio"); the README has the full table::

    [providers.spaces]
    plugin = "gradio"
    hf_token = "${HF_TOKEN:-}"
    [providers.spaces.models."gemma-2-9b"]
    space = "huggingface-projects/gemma-2-9b-it"

``gradio_client`` is synchronous: building a client (it fetches the app's config), submitting and
cancelling a job run on worker threads; the event loop only polls the job's outputs. The core's
``httpx.AsyncClient`` is not used — ``gradio_client`` makes its own connections (``proxy`` and the
timeouts reach them through ``httpx_kwargs``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx
import msgspec
from gradio_client import Client  # type: ignore[import-untyped]
from gradio_client.exceptions import AppError, AuthenticationError  # type: ignore[import-untyped]
from gradio_client.exceptions import ValidationError as GradioValidationError
from gradio_client.utils import QueueError, TooManyRequestsError  # type: ignore[import-untyped]

from hexgate.errors import (
    HexgateError,
    ModelNotFound,
    Unsupported,
    UpstreamAuthError,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamRejected,
    from_upstream_status,
)
from hexgate.plugin_kit import from_transport_error
from hexgate.protocol import PROTOCOL_VERSION, CallContext
from hexgate.schemas.chat import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
    estimate_prompt_tokens,
)
from hexgate.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from hexgate.schemas.models import Model, ModelCapabilities
from hexgate.schemas.responses import Response, ResponseRequest, ResponseStreamEvent
from hexgate_gradio._pool import ClientPool
from hexgate_gradio.translate import (
    Differ,
    Plan,
    PlanError,
    build_args,
    classify_message,
    clean_message,
    conversation,
    extract_text,
    normalise_space,
    plan_endpoint,
    retry_after_seconds,
    sampling_values,
)
from hexgate_gradio.wire import parse_api_info

__all__ = ["GradioProvider", "GradioSettings", "SpaceModel"]

log = logging.getLogger("hexgate.gradio")

_MAX_POOLS = 64
_PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


class SpaceModel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[providers.<id>.models."<name>"]``: one Gradio app served as the model ``<id>/<name>``."""

    space: str
    """A Space id (``owner/name``), its ``huggingface.co/spaces/…`` page, or the app's URL."""
    api_name: str | None = None
    """The endpoint to call (``/chat``); by default the one that looks most like a chat endpoint."""
    params: dict[str, str] = msgspec.field(default_factory=dict)
    """Field → parameter name, overriding the guess (``{ message = "prompt", max_tokens = "" }``)."""
    fixed: dict[str, Any] = msgspec.field(default_factory=dict)
    """Parameter name → constant value sent on every call."""
    output: int | None = None
    """Which returned value holds the answer, for endpoints with several outputs."""
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None


class GradioSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    models: dict[str, SpaceModel | str] = msgspec.field(default_factory=dict)
    """Model name → a table, or just the Space id / URL."""
    hf_token: str | None = None
    """Hugging Face token for private Spaces and ZeroGPU quota; empty means anonymous."""
    forward_client_token: bool = True
    """Use the caller's bearer token instead, when it is a Hugging Face token (``hf_…``)."""
    proxy: str | None = None
    """``http://``, ``https://`` or ``socks5://`` proxy for every connection to the apps."""
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    """Seconds of silence on a connection before it fails (Gradio streams send a heartbeat every 15 s)."""
    max_sessions: int = 8
    """Jobs that run at once per app and token; more wait for a free session."""
    poll_interval: float = 0.02
    """Seconds between looks at a running job's outputs."""


class _Spec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    src: str
    model: SpaceModel


class _Outcome:
    """What a finished call leaves behind for the non-streamed answer."""

    text: str = ""
    stopped: bool = False


class GradioProvider:
    """A :class:`hexgate.protocol.Provider` over ``gradio_client``. Raises hexgate errors only:
    ZeroGPU quota and full queues → 429 with ``retry-after``, an app's exception → 502 with its
    message, an app that refuses every token → 502, connection failures → 502, timeouts → 504."""

    protocol_version = PROTOCOL_VERSION
    takes_proxy = True
    """``gradio_client`` opens its own connections: the core hands this plugin the effective ``proxy``."""

    def __init__(self, settings: Mapping[str, Any], *, http: httpx.AsyncClient) -> None:
        self.settings = msgspec.convert(dict(settings), GradioSettings)
        self._http = http  # unused: gradio_client opens its own connections
        proxy = self.settings.proxy
        if proxy and not proxy.startswith(_PROXY_SCHEMES):
            raise ValueError(f"proxy must start with one of {', '.join(_PROXY_SCHEMES)}")
        if self.settings.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._specs: dict[str, _Spec] = {}
        for name, entry in self.settings.models.items():
            model = SpaceModel(space=entry) if isinstance(entry, str) else entry
            try:
                src = normalise_space(model.space)
            except ValueError as exc:
                raise ValueError(f"models.{name}.space: {exc}") from None
            self._specs[name] = _Spec(name=name, src=src, model=model)
        self._pools: OrderedDict[tuple[str, str], ClientPool] = OrderedDict()
        self._plans: dict[str, Plan] = {}

    # ------------------------------------------------------------ plumbing

    def _spec(self, model: str) -> _Spec:
        spec = self._specs.get(model)
        if spec is None:
            known = sorted(self._specs)
            raise ModelNotFound(f"model {model!r} is not configured for this Gradio provider; known: {known}")
        return spec

    def _tokens(self, ctx: CallContext) -> list[str | None]:
        """Tokens to try in order; None is anonymous (tried last, after a 401)."""
        token = self.settings.hf_token or None
        if self.settings.forward_client_token and ctx.client_token and ctx.client_token.startswith("hf_"):
            token = ctx.client_token
        return [token, None] if token else [None]

    def _httpx_kwargs(self) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {"timeout": httpx.Timeout(s.read_timeout, connect=s.connect_timeout)}
        if s.proxy:
            kwargs["proxy"] = s.proxy
        return kwargs

    def _pool(self, src: str, token: str | None) -> ClientPool:
        key = (src, hashlib.sha256(token.encode()).hexdigest() if token else "")
        pool = self._pools.get(key)
        if pool is not None:
            self._pools.move_to_end(key)
            return pool
        pool = self._pools[key] = ClientPool(lambda: self._make_client(src, token), size=self.settings.max_sessions)
        while len(self._pools) > _MAX_POOLS:
            _, old = self._pools.popitem(last=False)
            task = asyncio.get_running_loop().create_task(old.aclose())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        return pool

    def _make_client(self, src: str, token: str | None) -> Any:
        return Client(
            src,
            token if token else False,  # False: send no token, not even a locally saved one
            verbose=False,
            httpx_kwargs=self._httpx_kwargs(),
            download_files=False,
            analytics_enabled=False,
        )

    def _plan(self, spec: _Spec, client: Any) -> Plan:
        plan = self._plans.get(spec.name)
        if plan is None:
            raw = client.view_api(return_format="dict", print_info=False)
            try:
                plan = plan_endpoint(
                    parse_api_info(raw),
                    api_name=spec.model.api_name,
                    params=spec.model.params,
                    fixed=spec.model.fixed,
                    output=spec.model.output,
                )
            except (PlanError, msgspec.ValidationError) as exc:
                raise UpstreamError(f"cannot call the Gradio app {spec.src} (model {spec.name!r}): {exc}") from None
            log.info("model %s: %s %s", spec.name, plan.api_name, {k: s.name for k, s in plan.slots.items()})
            self._plans[spec.name] = plan
        return plan

    # ------------------------------------------------------------ the call

    async def _pieces(
        self, request: ChatCompletionRequest, ctx: CallContext, outcome: _Outcome
    ) -> AsyncGenerator[str, None]:
        """The answer as it grows, piece by piece; ``outcome`` holds the final text afterwards."""
        spec = self._spec(ctx.model)
        convo = conversation(request)
        values = sampling_values(request, repetition_penalty=_repetition_penalty(ctx.body))
        tokens = self._tokens(ctx)
        for attempt, token in enumerate(tokens):
            retry = attempt + 1 < len(tokens)
            pool = self._pool(spec.src, token)
            try:
                client = await pool.acquire()
            except HexgateError:
                raise
            except Exception as exc:
                if retry and _is_auth_failure(exc):
                    log.info("model %s: the app refused the token (401); retrying anonymously", spec.name)
                    continue
                raise _error(exc, spec) from None
            job: Any = None
            broken = False
            emitted = False
            try:
                plan = self._plan(spec, client)
                args = build_args(plan, convo, values)
                job = await asyncio.to_thread(client.submit, *args, api_name=plan.api_name)
                async for piece in self._follow(job, plan, Differ(stop=request.stop_list()), outcome):
                    emitted = True
                    yield piece
                return
            except HexgateError:
                raise
            except Exception as exc:
                broken = not isinstance(exc, _APP_ERRORS)
                if retry and not emitted and _is_auth_failure(exc):
                    log.info("model %s: the app refused the token (401); retrying anonymously", spec.name)
                    continue
                raise _error(exc, spec) from None
            finally:
                if job is not None and not job.done():
                    _cancel_soon(job)
                pool.release(client, job=job, broken=broken)

    async def _follow(self, job: Any, plan: Plan, differ: Differ, outcome: _Outcome) -> AsyncIterator[str]:
        """Poll the job's growing outputs and yield what each adds; raise the job's exception."""
        seen = 0
        while True:
            finished = job.done()
            outputs = job.outputs()
            if len(outputs) > seen:
                seen = len(outputs)
                piece = differ.feed(extract_text(outputs[-1], plan))
                if piece:
                    yield piece
                if differ.stopped:  # a stop sequence: the rest is not wanted
                    outcome.text, outcome.stopped = differ.base, True
                    return
            if finished:
                break
            await asyncio.sleep(self.settings.poll_interval)
        error = job.exception()
        if error is not None:
            raise error
        final = extract_text(job.result(), plan)
        piece = differ.feed(final, final=True)
        if piece:
            yield piece
        outcome.text, outcome.stopped = differ.cut(final, final=True), differ.stopped

    def _usage(self, request: ChatCompletionRequest, text: str) -> Usage:
        prompt = estimate_prompt_tokens(request)
        completion = (len(text) + 3) // 4
        return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)

    # ------------------------------------------------------------ Provider

    async def chat(self, request: ChatCompletionRequest, ctx: CallContext) -> ChatCompletion:
        outcome = _Outcome()
        pieces = self._pieces(request, ctx, outcome)
        try:
            async for _ in pieces:
                pass
        finally:
            await pieces.aclose()
        return ChatCompletion(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            model=ctx.model,
            choices=[Choice(index=0, message=AssistantMessage(content=outcome.text), finish_reason="stop")],
            usage=self._usage(request, outcome.text),
        )

    async def stream_chat(self, request: ChatCompletionRequest, ctx: CallContext) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as the app's output grows; the first waits for the first piece of text so that an
        error before it (quota, queue full) is an ordinary error answer with its status."""
        cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: Delta, finish: str | None = None, usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=cid,
                created=created,
                model=ctx.model,
                choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)],
                usage=usage if usage is not None else msgspec.UNSET,
            )

        outcome = _Outcome()
        pieces = self._pieces(request, ctx, outcome)
        first = True
        try:
            async for piece in pieces:
                yield chunk(Delta(role="assistant", content=piece) if first else Delta(content=piece))
                first = False
        finally:
            await pieces.aclose()
        if first:
            yield chunk(Delta(role="assistant", content=""))
        yield chunk(Delta(), "stop", self._usage(request, outcome.text))

    async def embed(self, request: EmbeddingRequest, ctx: CallContext) -> EmbeddingResponse:
        raise Unsupported("Gradio apps serve chat here, not embeddings")

    async def respond(
        self, request: ResponseRequest, ctx: CallContext
    ) -> Response | AsyncIterator[ResponseStreamEvent]:
        raise Unsupported("the Gradio provider has no native Responses API")

    async def list_models(self) -> list[Model]:
        """The configured models, without contacting the apps (``owned_by`` is the Space's owner)."""
        models = []
        for name, spec in self._specs.items():
            m = spec.model
            owner = spec.src.split("/", 1)[0] if not spec.src.startswith("http") else httpx.URL(spec.src).host
            models.append(
                Model(
                    id=name,
                    owned_by=owner or "gradio",
                    display_name=m.display_name or spec.src,
                    context_window=m.context_window if m.context_window is not None else msgspec.UNSET,
                    max_output_tokens=m.max_output_tokens if m.max_output_tokens is not None else msgspec.UNSET,
                    capabilities=ModelCapabilities(chat=True, streaming=True, tools=False, vision=False),
                )
            )
        return models

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        await asyncio.gather(*(p.aclose() for p in pools), return_exceptions=True)


# ---------------------------------------------------------------- helpers


class _Extras(msgspec.Struct):
    repetition_penalty: float | None = None


_extras_decoder = msgspec.json.Decoder(_Extras)


def _repetition_penalty(body: bytes | None) -> float | None:
    """``repetition_penalty`` from the raw request (not an OpenAI field; vLLM/TGI clients send it)."""
    if not body:
        return None
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        return _extras_decoder.decode(body).repetition_penalty
    return None


def _cancel_soon(job: Any) -> None:
    """Cancel a job without blocking the loop (``Job.cancel`` posts to the app); fire and forget."""

    def cancel() -> None:
        with contextlib.suppress(Exception):
            job.cancel()

    future = asyncio.get_running_loop().run_in_executor(None, cancel)
    future.add_done_callback(lambda f: None)


def _status_of(exc: BaseException) -> int | None:
    try:
        response = getattr(exc, "response", None)
    except RuntimeError:  # httpx: .response of an error that has none
        return None
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_auth_failure(exc: BaseException) -> bool:
    return isinstance(exc, AuthenticationError) or _status_of(exc) == 401


_APP_ERRORS: tuple[type[BaseException], ...] = (AppError, GradioValidationError)


def _error(exc: BaseException, spec: _Spec) -> HexgateError:
    """Map a ``gradio_client`` / ``httpx`` / Hub failure onto the error tree (ARCHITECTURE.md table)."""
    where = f"the Gradio app {spec.src}"
    if isinstance(exc, AppError):
        message = clean_message(str(exc.message))
        kind = classify_message(message)
        wait = retry_after_seconds(message)
        if kind == "quota":
            return UpstreamRateLimited(f"{where}: {message}", retry_after=wait, code="gpu_quota_exceeded")
        if kind == "queue_full":
            return UpstreamRateLimited(f"{where}: {message}", retry_after=wait)
        if kind == "no_gpu":
            return UpstreamOverloaded(f"{where}: {message}", retry_after=wait)
        return UpstreamError(f"{where} raised an error: {message}", code="app_error")
    if isinstance(exc, QueueError):
        return UpstreamRateLimited(f"{where}: its queue is full; retry later", code="queue_full")
    if isinstance(exc, TooManyRequestsError):
        return UpstreamRateLimited(f"{where}: too many requests; retry later")
    if isinstance(exc, GradioValidationError):
        return UpstreamRejected(f"{where} refused the input: {clean_message(str(exc))}")
    if isinstance(exc, AuthenticationError):
        return UpstreamAuthError(f"{where} refused the credentials; check hf_token or the app's auth")
    status = _status_of(exc)
    if type(exc).__name__ in ("RepositoryNotFoundError", "GatedRepoError") or (status == 404 and "/" in spec.src):
        return UpstreamError(f"{where} was not found on the Hugging Face Hub (or needs a token that can see it)")
    if status is not None:
        return from_upstream_status(status, f"{where} answered {status}")
    if isinstance(exc, httpx.TransportError):
        return from_transport_error(exc, upstream=where)
    if isinstance(exc, concurrent.futures.CancelledError):
        return UpstreamError(f"{where} ended the job before it finished")
    text = clean_message(str(exc))
    if "invalid state" in text or "server stopped" in text.lower():
        return UpstreamOverloaded(f"{where} is not running: {text}")
    return UpstreamError(f"{where} failed: {text or type(exc).__name__}")
