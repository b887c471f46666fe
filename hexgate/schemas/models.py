"""``/v1/models`` on the wire: OpenAI's Model object plus capability metadata.

OpenAI's own keys are ``id``, ``object``, ``created``, ``owned_by``. hexgate adds
what chat UIs need to present a model (PEERS.md, "Chat-UI compatibility"): the
context window, the output limit, capability flags and embedding dimensions, each
omitted when the provider does not know it.
"""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType

__all__ = ["Model", "ModelCapabilities", "ModelList"]


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


class ModelList(Struct, kw_only=True):
    data: list[Model]
    object: str = "list"
