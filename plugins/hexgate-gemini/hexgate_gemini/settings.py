"""The ``[providers.<id>]`` table of a Gemini provider, validated with ``forbid_unknown_fields``.

| key | type | default | meaning |
|---|---|---|---|
| ``api_key`` | str | env ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY`` | Developer API (or Vertex express) key |
| ``base_url`` | str | the SDK's | endpoint root, for proxies and tests |
| ``api_version`` | str | the SDK's (``v1beta``) | path version segment |
| ``timeout`` | float, s | the core client's read timeout | per upstream operation |
| ``vertexai`` / ``project`` / ``location`` | bool / str / str | off | Vertex AI mode (ADC credentials) |
| ``thinking_budgets`` | table | 0/128/1024/8192/24576/32768 | effort → ``thinking_budget`` (Gemini 2.x) |
| ``thinking_levels`` | table | effort → same level | effort → ``thinking_level`` (Gemini 3) |
| ``level_models`` | list of str | ``["gemini-3"]`` | model id prefixes that take ``thinking_level`` |
| ``include_thoughts`` | bool | false | ask for thought summaries without ``reasoning_effort`` |
| ``missing_signature`` | str | ``skip_thought_signature_validator`` | stand-in for a lost Gemini 3 signature |
| ``n_strategy`` | ``candidates`` / ``fan_out`` | ``candidates`` | how ``n > 1`` is served |
| ``image_max_bytes`` | int | 10 MiB | largest http(s) image the gateway fetches and inlines |
| ``image_fetch_private`` | bool | false | allow image hosts on loopback/private addresses |
| ``image_max_count`` | int | 16 | most distinct http(s) image URLs fetched for one request (400 above) |
| ``image_fetch_concurrency`` | int | 4 | image fetches one request runs at a time |
| ``embedding_task_type`` | str | none | ``task_type`` sent with embeddings |
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["GeminiSettings", "Level", "ThinkingBudgets", "ThinkingLevels"]

Level = Literal["minimal", "low", "medium", "high", "xhigh"]


class ThinkingBudgets(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Thinking tokens per ``reasoning_effort`` for budget-based models (Gemini 2.x).

    Defaults follow Google's own OpenAI compatibility layer (ai.google.dev/gemini-api/docs/openai:
    low/medium/high → 1K/8K/24K tokens, ``none`` turns thinking off); ``-1`` means dynamic.
    """

    none: int = 0
    minimal: int = 128
    low: int = 1024
    medium: int = 8192
    high: int = 24576
    xhigh: int = 32768


class ThinkingLevels(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``thinking_level`` per ``reasoning_effort`` for level-based models (Gemini 3; they cannot turn
    thinking off, so ``none`` asks for the least). Values: ``minimal | low | medium | high | xhigh``."""

    none: Level = "minimal"
    minimal: Level = "minimal"
    low: Level = "low"
    medium: Level = "medium"
    high: Level = "high"
    xhigh: Level = "high"


class GeminiSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    timeout: float | None = None
    vertexai: bool = False
    project: str | None = None
    location: str | None = None
    thinking_budgets: ThinkingBudgets = msgspec.field(default_factory=ThinkingBudgets)
    thinking_levels: ThinkingLevels = msgspec.field(default_factory=ThinkingLevels)
    level_models: list[str] = msgspec.field(default_factory=lambda: ["gemini-3"])
    """Model id prefixes that take ``thinking_level`` instead of ``thinking_budget``."""
    include_thoughts: bool = False
    missing_signature: str = "skip_thought_signature_validator"
    n_strategy: Literal["candidates", "fan_out"] = "candidates"
    image_max_bytes: int = 10 * 1024 * 1024
    image_fetch_private: bool = False
    image_max_count: Annotated[int, msgspec.Meta(ge=0)] = 16
    image_fetch_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 4
    embedding_task_type: str | None = None
