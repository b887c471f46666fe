"""Where a configured model's files are and what they hold (chat or embeddings, context window,
dimensions): read by the gateway (for ``/v1/models`` and checks) and by the worker (to preload)."""

from __future__ import annotations

import msgspec

from hexgate.errors import UpstreamError
from hexgate_huggingface._locate import ModelFiles, locate
from hexgate_huggingface.settings import HuggingFaceSettings, Kind, ModelSettings
from hexgate_huggingface.translate import context_window, embedding_dimension, model_kind

__all__ = ["Described", "describe"]


class Described(msgspec.Struct, frozen=True, kw_only=True):
    """What a model's files say, without loading its weights."""

    folder: str
    kind: Kind
    context_window: int | None
    embedding_dimensions: int | None


def describe(name: str, spec: ModelSettings, settings: HuggingFaceSettings) -> Described:
    """Blocking: locate ``name``'s files and read its small JSON files. Raises :class:`ModelNotFound`,
    or :class:`UpstreamError` when neither the settings nor the files tell chat from embeddings."""
    folder = locate(
        name=name,
        path=spec.path,
        repo=spec.repo,
        package=spec.package,
        revision=spec.revision,
        cache_dir=settings.cache_dir,
        download=settings.download,
        remote_code=spec.trust_remote_code,
    )
    files = ModelFiles(folder)
    kind = spec.kind or model_kind(files.config, sentence_transformers=files.sentence_transformers)
    if kind is None:
        raise UpstreamError(
            f"cannot tell whether model {name!r} is a chat or an embeddings model from its config.json; "
            "set kind in its settings"
        )
    if kind == "chat":
        window = spec.context_window or context_window(files.config)
        dims = None
    else:
        window = spec.context_window or files.max_seq_length
        dims = embedding_dimension(files.config, files.modules, files.module_configs)
    return Described(folder=str(folder), kind=kind, context_window=window, embedding_dimensions=dims)
