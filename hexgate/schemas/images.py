"""OpenAI Images (generation) on the wire (openai-python ``types/image_generate_params.py``,
``images_response.py``, ``image.py``).

``response_format`` is ``b64_json`` (the base64 of the image file) or ``url``. OpenAI's
GPT image models always answer ``b64_json``, so hexgate does the same when the key is
absent; for ``url`` the core keeps the image in memory for a while and answers a link
to ``GET /v1/images/files/{name}`` (see :mod:`hexgate.routes.images`). A provider may
return either form; the route converts.
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, Struct, UnsetType

from hexgate.schemas.models import ModelName

__all__ = [
    "GeneratedImage",
    "ImageGenerationRequest",
    "ImagesInputTokensDetails",
    "ImagesResponse",
    "ImagesUsage",
]


class ImageGenerationRequest(Struct, kw_only=True):
    """``POST /v1/images/generations`` body. ``model`` is required by hexgate (it routes by it)
    although OpenAI's schema lets it default; ``n`` is 1-10; ``size`` is ``WIDTHxHEIGHT`` or ``auto``."""

    prompt: str
    model: ModelName | UnsetType | None = UNSET
    n: int | UnsetType | None = UNSET
    size: str | UnsetType | None = UNSET
    quality: str | UnsetType | None = UNSET
    """``auto | low | medium | high`` (GPT image models), ``standard | hd`` (retired DALL·E models)."""
    response_format: Literal["url", "b64_json"] | UnsetType | None = UNSET
    style: str | UnsetType | None = UNSET
    """``vivid | natural`` (retired DALL·E models)."""
    user: str | UnsetType = UNSET
    background: str | UnsetType | None = UNSET
    moderation: str | UnsetType | None = UNSET
    output_format: str | UnsetType | None = UNSET
    """``png | jpeg | webp`` …: the file format asked of the model."""
    output_compression: int | UnsetType | None = UNSET
    partial_images: int | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    safety_identifier: str | UnsetType | None = UNSET

    def count(self) -> int:
        """``n``, or 1 when absent."""
        return self.n if isinstance(self.n, int) else 1

    def wants_url(self) -> bool:
        """True when the client asked for ``response_format: "url"``."""
        return self.response_format == "url"


class GeneratedImage(Struct, kw_only=True):
    """One item of ``data``: the image as ``b64_json`` or as a ``url``, and the prompt the model used."""

    b64_json: str | UnsetType = UNSET
    url: str | UnsetType = UNSET
    revised_prompt: str | UnsetType = UNSET


class ImagesInputTokensDetails(Struct, kw_only=True):
    image_tokens: int = 0
    text_tokens: int = 0


class ImagesUsage(Struct, kw_only=True):
    """Token usage as GPT image models report it."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: ImagesInputTokensDetails


class ImagesResponse(Struct, kw_only=True):
    """``{created, data: [{b64_json | url, revised_prompt}], ...}``."""

    created: int
    data: list[GeneratedImage]
    background: str | UnsetType = UNSET
    output_format: str | UnsetType = UNSET
    quality: str | UnsetType = UNSET
    size: str | UnsetType = UNSET
    usage: ImagesUsage | UnsetType = UNSET
