"""Native Messages pass-through: ``POST {base_url}/v1/messages`` and ``/v1/messages/count_tokens``.

The client's body goes upstream as it came, key for key (``model`` set to the upstream's id; unknown
keys, ``cache_control``, citations, server tools, thinking signatures included), with the client's
``anthropic-version`` (else the configured one, else the SDK's) and ``anthropic-beta`` (merged with
the configured betas). The answer comes back byte for byte: a JSON message as bytes, an event stream
as :class:`~hexgate.schemas.responses.RawEvent`\\ s read by :func:`hexgate.plugin_kit.open_events`
(captures ``anthropic-sdk-python/*.sse``). The request is sent on the core's HTTP client with the
SDK's base URL and auth headers, so that the body is not re-encoded by the SDK.

Errors map as for chat (:func:`hexgate_anthropic.provider.upstream_error`): the upstream's own
message, 429 with ``retry-after``, 529 → overloaded; a JSON error object sent with a 200 gets the
status its type documents (:func:`hexgate_anthropic.translate.body_error`); an ``event: error``
inside the stream reaches the client as sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Protocol, cast

import anthropic
import httpx
import msgspec
from msgspec import Raw

from hexgate.errors import HexgateError, UpstreamError, from_upstream_status
from hexgate.plugin_kit import open_events, retry_after
from hexgate.protocol import CallContext
from hexgate.schemas.responses import RawEvent
from hexgate_anthropic.errors import upstream_error
from hexgate_anthropic.settings import AnthropicSettings
from hexgate_anthropic.translate import body_error, scrub, sent_credentials

__all__ = ["AnthropicUpstream", "count_tokens", "create_message"]


class AnthropicUpstream(Protocol):
    """What these calls need of the provider (:class:`hexgate_anthropic.provider.AnthropicUpstream`)."""

    settings: AnthropicSettings
    http: httpx.AsyncClient

    @property
    def client(self) -> anthropic.AsyncAnthropic: ...


_encoder = msgspec.json.Encoder()
_fields = msgspec.json.Decoder(dict[str, Raw])
_VERSION = "anthropic-version"
_BETA = "anthropic-beta"


class _Error(msgspec.Struct):
    type: str = "error"
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _Error | None = None


_error_decoder = msgspec.json.Decoder(_ErrorBody)


def payload(body: bytes, model: str) -> bytes:
    """The client's body with ``model`` replaced; every other key (and its bytes) as it came."""
    fields = _fields.decode(body)
    fields["model"] = Raw(_encoder.encode(model))
    return _encoder.encode(fields)


def headers_for(provider: AnthropicUpstream, client: Mapping[str, str]) -> dict[str, str]:
    """Auth, content type, version and betas for one pass-through request."""
    settings = provider.settings
    out = {k: v for k, v in provider.client.auth_headers.items()}
    out["content-type"] = "application/json"
    out["accept"] = "application/json"
    version = client.get(_VERSION) or settings.anthropic_version or provider.client.default_headers.get(_VERSION)
    if isinstance(version, str) and version:
        out[_VERSION] = version
    betas = [b.strip() for b in client.get(_BETA, "").split(",") if b.strip()]
    betas += [b for b in settings.anthropic_beta if b not in betas]
    if betas:
        out[_BETA] = ",".join(betas)
    return out


def _status_error(response: httpx.Response, body: bytes) -> HexgateError:
    try:
        error = _error_decoder.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        error = None
    if error is not None and error.message:
        message = f"{error.message} (Anthropic {error.type})"
    else:
        message = body[:500].decode("utf-8", "replace") or f"Anthropic answered {response.status_code}"
    message = scrub(message, sent_credentials(response.request.headers))
    return from_upstream_status(response.status_code, message, retry_after=retry_after(response.headers))


@asynccontextmanager
async def _open(
    provider: AnthropicUpstream, path: str, body: bytes, headers: Mapping[str, str], ctx: CallContext
) -> AsyncIterator[httpx.Response]:

    http = provider.http
    url = str(provider.client.base_url).rstrip("/") + path
    request = http.build_request(
        "POST",
        url,
        content=payload(body, ctx.model),
        headers=headers_for(provider, headers),
        timeout=min(provider.settings.timeout, ctx.timeout),
    )
    try:
        response = await http.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise upstream_error(exc) from None
    try:
        if response.status_code >= 400:
            raise _status_error(response, await response.aread())
        yield response
    except httpx.HTTPError as exc:
        raise upstream_error(exc) from None
    finally:
        await response.aclose()


def _not_a_stream(response: httpx.Response, body: bytes) -> BaseException:
    return UpstreamError(
        f"Anthropic answered a streamed request with {response.headers.get('content-type') or 'no content type'}"
    )


class _Stream(msgspec.Struct):
    stream: bool = False


async def create_message(
    provider: AnthropicUpstream, body: bytes, headers: Mapping[str, str], ctx: CallContext
) -> bytes | AsyncIterator[RawEvent]:
    """The upstream's answer to the client's ``/v1/messages`` body (see the module docstring)."""

    try:
        stream = msgspec.json.decode(body, type=_Stream).stream
    except (msgspec.DecodeError, msgspec.ValidationError):
        stream = False
    answer = _open(provider, "/v1/messages", body, headers, ctx)
    if stream:
        relay = await open_events(answer, not_a_stream=_not_a_stream)
        return cast(AsyncIterator[RawEvent], relay)
    async with answer as response:
        try:
            answered = await response.aread()
        except httpx.HTTPError as exc:
            raise upstream_error(exc) from None
    failure = body_error(answered)  # an error object sent with a 200 gets its own status
    if failure is not None:
        raise failure
    return answered


async def count_tokens(provider: AnthropicUpstream, body: bytes, headers: Mapping[str, str], ctx: CallContext) -> bytes:
    """The upstream's own ``count_tokens`` answer, as bytes."""
    async with _open(provider, "/v1/messages/count_tokens", body, headers, ctx) as response:
        return await response.aread()
