"""``GET /health`` and ``GET /``: liveness (with each model worker process's state) and what this gateway is.

``GET /`` answers a browser (an ``Accept`` header naming ``text/html``) with the web playground
(:mod:`hexgate.routes.playground`) and any other client with the JSON service info.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency

from hexgate import __version__
from hexgate.protocol import WorkerProvider, WorkerStatus
from hexgate.registry import Registry
from hexgate.routes._common import json_response
from hexgate.routes.playground import playground_page

__all__ = ["health", "root", "workers_of"]


class ProviderWorker(WorkerStatus, kw_only=True):
    provider: str
    """The provider id whose model runs in this worker process."""


class Health(msgspec.Struct):
    status: str
    providers: list[str]
    workers: list[ProviderWorker]
    """Each model worker process (providers that run models on this machine): its state and last exit."""


def workers_of(registry: Registry) -> list[ProviderWorker]:
    """The worker processes of every provider that has them (:class:`hexgate.protocol.WorkerProvider`)."""
    out: list[ProviderWorker] = []
    for pid in sorted(registry.providers):
        provider = registry.providers[pid]
        if isinstance(provider, WorkerProvider):
            out += [ProviderWorker(provider=pid, **msgspec.structs.asdict(w)) for w in provider.workers()]
    return out


class ServiceInfo(msgspec.Struct):
    name: str
    version: str
    openai_base_url: str
    endpoints: list[str]
    providers: list[str]
    docs: str
    playground: str


@get("/health", summary="Liveness")
async def health(registry: NamedDependency[Registry]) -> Response[Any]:
    return json_response(Health(status="ok", providers=sorted(registry.providers), workers=workers_of(registry)))


@get("/", summary="Service info (JSON), or the web playground for a browser")
async def root(request: Request[Any, Any, Any], registry: NamedDependency[Registry]) -> Response[Any]:
    if "text/html" in request.headers.get("accept", ""):
        return playground_page()
    return json_response(
        ServiceInfo(
            name="hexgate",
            version=__version__,
            openai_base_url="/v1",
            endpoints=["/v1/chat/completions", "/v1/embeddings", "/v1/models", "/health", "/schema", "/providers"],
            providers=sorted(registry.providers),
            docs="/schema",
            playground="/",
        ),
        headers={"vary": "accept"},
    )
