"""``POST /v1/images/generations`` and ``GET /v1/images/files/{name}``.

Image generation is an optional capability (:class:`hexgate.protocol.ImageProvider`); a
provider without it answers 400 with code ``unsupported``.

``response_format``: absent or ``b64_json`` gives the base64 of the image file, as OpenAI's
GPT image models always answer. ``url`` gives a link to ``GET /v1/images/files/<name>`` on
this gateway, served from an in-memory store (:mod:`hexgate.routes._image_store`): valid an
hour like OpenAI's links, bounded in count and bytes (the oldest go first), per process,
readable without the gateway key (the name is the secret). An image larger than the whole
store comes back as a ``data:`` URL instead. The link's host is the one the client called
(``Host``, or the forwarded headers uvicorn trusts).

Every generation goes through the meter (:mod:`hexgate.ops.meter`), so a key's ``tpm`` and budget
see it: the provider's ``usage`` (GPT image models report one), else hexgate's estimate: the prompt
at about four characters a token, and :data:`IMAGE_TOKENS_ESTIMATE` output tokens per image.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from msgspec import UNSET

from hexgate.errors import InvalidRequest, Unsupported, UpstreamError
from hexgate.ops.meter import meter_of
from hexgate.protocol import ImageProvider
from hexgate.routes._common import call_context, decode_body, json_response, registry_of, trace_of, with_deadline
from hexgate.routes._image_store import ImageStore, sniff_media_type
from hexgate.schemas.images import ImageGenerationRequest, ImagesResponse, ImagesUsage
from hexgate.trace import traced

__all__ = ["FILES_PATH", "IMAGE_TOKENS_ESTIMATE", "image_file", "image_generations"]

FILES_PATH = "/v1/images/files/"
"""Prefix of the image links; the app leaves it open when gateway keys are configured."""
_STATE_KEY = "image_store"
_MAX_IMAGES = 10
IMAGE_TOKENS_ESTIMATE = 1056
"""Output tokens counted per image when the provider reports no usage: what OpenAI's image generation
guide gives for one 1024x1024 image at ``medium`` quality (gpt-image-1)."""


def _store_of(request: Request[Any, Any, Any]) -> ImageStore:
    """The app's image store, made on first use (one per app, hence per worker process)."""
    state = request.app.state
    store = state.get(_STATE_KEY)
    if not isinstance(store, ImageStore):
        store = ImageStore()
        state[_STATE_KEY] = store
    return store


def _validate(req: ImageGenerationRequest) -> str:
    if not req.prompt.strip():
        raise InvalidRequest("'prompt' must not be empty", param="prompt")
    if not isinstance(req.model, str) or not req.model:
        raise InvalidRequest(
            "'model' is required: hexgate routes by it ('<provider>/<model>' or an alias)", param="model"
        )
    n = req.count()
    if not 1 <= n <= _MAX_IMAGES:
        raise InvalidRequest(f"'n' must be between 1 and {_MAX_IMAGES}", param="n")
    if req.stream is True:
        raise Unsupported("streamed image generation is not supported; omit 'stream'", param="stream")
    return req.model


def _deliver(result: ImagesResponse, req: ImageGenerationRequest, store: ImageStore, base_url: str) -> None:
    """Give every item the form the client asked for (in place)."""
    for item in result.data:
        if req.wants_url():
            if isinstance(item.b64_json, str):
                data = _decode(item.b64_json)
                name = store.put(data)
                if name is None:
                    item.url = f"data:{sniff_media_type(data)[0]};base64,{item.b64_json}"
                else:
                    item.url = f"{base_url}{FILES_PATH}{name}"
                item.b64_json = UNSET
            elif not isinstance(item.url, str):
                raise UpstreamError("the provider returned an image item with neither data nor a link")
        elif not isinstance(item.b64_json, str):
            raise UpstreamError("the provider returned an image link, not image data; ask for response_format 'url'")


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UpstreamError("the provider returned image data that is not valid base64") from None


@post(
    "/v1/images/generations",
    status_code=200,
    summary="Create images from a prompt",
    opt={"body": ImageGenerationRequest},
)
async def image_generations(request: Request[Any, Any, Any]) -> Response[Any]:
    registry = registry_of(request)
    body = await request.body()
    req = decode_body(body, ImageGenerationRequest)
    model = _validate(req)
    route = registry.resolve(model)
    provider = route.provider
    if not isinstance(provider, ImageProvider):
        raise Unsupported(f"provider {route.provider_id!r} cannot generate images", param="model")
    ctx = call_context(request, route, body, registry)
    meter = meter_of(request, model=model)
    trace_of(request).note(route)  # the target prices and usage rows are booked under
    generate = traced(
        registry.spans, "generate_content", route.provider_id, ctx, lambda: provider.generate_image(req, ctx)
    )
    result = await with_deadline(generate, ctx.timeout)
    if isinstance(result.usage, ImagesUsage):
        meter.tokens(result.usage.input_tokens, result.usage.output_tokens)
    else:
        meter.tokens((len(req.prompt) + 3) // 4, IMAGE_TOKENS_ESTIMATE * len(result.data))
    _deliver(result, req, _store_of(request), str(request.base_url).rstrip("/"))
    return json_response(result)


@get(f"{FILES_PATH}{{name:str}}", summary="Download a generated image (links from response_format 'url')")
async def image_file(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    store = _store_of(request)
    image = store.get(name)
    if image is None:
        raise InvalidRequest(
            f"image {name!r} does not exist or has expired; links are valid for {store.ttl / 60:g} minutes",
            status=404,
            code="not_found",
        )
    headers = {
        "cache-control": f"private, max-age={int(store.seconds_left(image))}",
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return Response(content=image.data, media_type=image.media_type, headers=headers)
