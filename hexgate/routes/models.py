"""``GET /v1/models`` and ``GET /v1/models/{id}``: every provider's list plus aliases, each entry
with the metadata copies chat UIs read (:func:`hexgate.schemas.models.for_chat_uis`)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from hexgate.errors import ModelNotFound
from hexgate.registry import Registry
from hexgate.routes._common import json_response
from hexgate.schemas.models import ModelList, for_chat_uis

__all__ = ["list_models", "retrieve_model"]


@get("/v1/models", summary="List models", response_model=None)
async def list_models(registry: NamedDependency[Registry]) -> Response[Any]:
    return json_response(ModelList(data=[for_chat_uis(m) for m in await registry.list_models()]))


@get("/v1/models/{model_id:path}", summary="Retrieve a model")
async def retrieve_model(model_id: FromPath[str], registry: NamedDependency[Registry]) -> Response[Any]:
    wanted = model_id.lstrip("/")
    for model in await registry.list_models():
        if model.id == wanted:
            return json_response(for_chat_uis(model))
    raise ModelNotFound(f"model {wanted!r} is not listed by any provider or alias")
