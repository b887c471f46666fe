"""``GET /health`` and ``GET /``: liveness and what this gateway is."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get

from hexgate import __version__
from hexgate.registry import Registry
from hexgate.routes._common import json_response

__all__ = ["health", "root"]


class Health(msgspec.Struct):
    status: str
    providers: list[str]


class ServiceInfo(msgspec.Struct):
    name: str
    version: str
    openai_base_url: str
    endpoints: list[str]
    providers: list[str]
    docs: str


@get("/health", summary="Liveness")
async def health(registry: Registry) -> Response[Any]:
    return json_response(Health(status="ok", providers=sorted(registry.providers)))


@get("/", summary="Service info")
async def root(registry: Registry) -> Response[Any]:
    return json_response(
        ServiceInfo(
            name="hexgate",
            version=__version__,
            openai_base_url="/v1",
            endpoints=["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/health", "/schema"],
            providers=sorted(registry.providers),
            docs="/schema",
        )
    )
