"""``/v1/models`` on the wire: OpenAI's Model object plus capability metadata.

OpenAI's own keys are ``id``, ``object``, ``created``, ``owned_by``. hexgate adds
what chat UIs need to present a model (PEERS.md, "Chat-UI compatibility"): the
context window, the output limit, capability flags and embedding dimensions, each
omitted when the provider does not know it.

Chat UIs read that metadata under their own names, so :func:`for_chat_uis` copies it, at the
route, into top-level keys they look for (all additive; OpenAI's four keys stay as they are):

- LobeChat (``processModelCard`` in its ``model-runtime``, used for the OpenAI provider's
  "fetch models"): ``contextWindowTokens``, ``maxOutput``, ``displayName``, ``functionCall``,
  ``vision``, ``reasoning`` and ``type`` (``"chat"`` / ``"embedding"``);
- Open WebUI: ``name`` (else it shows ``id``); OpenRouter-style readers: ``context_length``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Struct, UnsetType

__all__ = ["MAX_MODEL_NAME", "Model", "ModelCapabilities", "ModelList", "ModelName", "for_chat_uis"]

MAX_MODEL_NAME = 256
"""Longest ``model`` a request may name, in characters (a longer one is a 400 naming ``model``):
hexgate keys metrics, usage and circuits by model names, so a client must not choose their size."""

ModelName = Annotated[str, msgspec.Meta(max_length=MAX_MODEL_NAME)]
"""The ``model`` of a request body: a string of at most :data:`MAX_MODEL_NAME` characters."""


class ModelCapabilities(Struct, kw_only=True):
    chat: bool | UnsetType = UNSET
    embeddings: bool | UnsetType = UNSET
    tools: bool | UnsetType = UNSET
    vision: bool | UnsetType = UNSET
    reasoning: bool | UnsetType = UNSET
    json_output: bool | UnsetType = UNSET
    streaming: bool | UnsetType = UNSET


class Model(Struct, kw_only=True):
    id: str
    created: int = 0
    owned_by: str = "hexgate"
    object: str = "model"
    display_name: str | UnsetType = UNSET
    context_window: int | UnsetType = UNSET
    """Tokens the model accepts in total (LobeChat's ``contextWindowTokens``)."""
    max_output_tokens: int | UnsetType = UNSET
    embedding_dimensions: int | UnsetType = UNSET
    capabilities: ModelCapabilities | UnsetType = UNSET
    provider: str | UnsetType = UNSET
    """The provider id serving it; set by the gateway."""
    alias_of: list[str] | UnsetType = UNSET
    """For an alias: the ``provider/model`` targets it routes to, in order."""

    # Copies for chat UIs, filled by for_chat_uis() from the fields above; providers leave them unset.
    name: str | UnsetType = UNSET
    """``display_name`` (Open WebUI)."""
    context_length: int | UnsetType = UNSET
    """``context_window`` (OpenRouter's key)."""
    type: str | UnsetType = UNSET
    """``"chat"`` or ``"embedding"`` (LobeChat's model type)."""
    display_name_ui: str | UnsetType = msgspec.field(default=UNSET, name="displayName")
    context_window_tokens: int | UnsetType = msgspec.field(default=UNSET, name="contextWindowTokens")
    max_output: int | UnsetType = msgspec.field(default=UNSET, name="maxOutput")
    function_call: bool | UnsetType = msgspec.field(default=UNSET, name="functionCall")
    vision: bool | UnsetType = UNSET
    reasoning: bool | UnsetType = UNSET


class ModelList(Struct, kw_only=True):
    data: list[Model]
    object: str = "list"


def for_chat_uis(model: Model) -> Model:
    """``model`` with the chat-UI keys (module docstring) copied from what the provider knows;
    a key whose source is unknown stays absent, so a UI falls back to its own defaults."""
    caps = model.capabilities if isinstance(model.capabilities, ModelCapabilities) else ModelCapabilities()
    if caps.embeddings is True and caps.chat is not True:
        kind: str | UnsetType = "embedding"
    elif caps.chat is True:
        kind = "chat"
    elif isinstance(model.embedding_dimensions, int):
        kind = "embedding"
    else:
        kind = UNSET
    return msgspec.structs.replace(
        model,
        name=model.display_name,
        context_length=model.context_window,
        type=kind,
        display_name_ui=model.display_name,
        context_window_tokens=model.context_window,
        max_output=model.max_output_tokens,
        function_call=caps.tools,
        vision=caps.vision,
        reasoning=caps.reasoning,
    )
