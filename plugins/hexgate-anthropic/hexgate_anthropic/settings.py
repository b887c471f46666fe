"""``[providers.<id>]`` settings of the Anthropic plugin (plugin = "anthropic").

- ``api_key`` (str, required): ``x-api-key``; write ``"${ANTHROPIC_API_KEY}"`` to read the environment.
- ``base_url`` (str, SDK default): API root without ``/v1`` (a proxy, or a test stub).
- ``timeout`` (float s, 600): per upstream call, never more than the server's ``request_timeout``.
- ``max_tokens`` (int, 4096): used when the client sends neither ``max_tokens`` nor
  ``max_completion_tokens``.
- ``thinking_budgets`` (table, see :class:`ThinkingBudgets`): ``reasoning_effort`` →
  ``thinking.budget_tokens``.
- ``adaptive_thinking`` (list of str, ``["claude-opus-4-6", "claude-mythos"]``): model-id prefixes
  that get ``thinking: {type: adaptive}`` + ``output_config.effort`` instead of a budget.
- ``anthropic_version`` (str, SDK default ``2023-06-01``): the ``anthropic-version`` header.
- ``anthropic_beta`` (list of str, empty): joined into the ``anthropic-beta`` header.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["AnthropicSettings", "ThinkingBudgets"]

Budget = Annotated[int, msgspec.Meta(ge=1024)]
"""Anthropic's minimum ``budget_tokens`` is 1024 (Messages API reference, ``thinking``)."""


class ThinkingBudgets(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Thinking budget in tokens per OpenAI ``reasoning_effort``; ``none`` turns thinking off.

    Defaults follow LiteLLM's constants for low/medium/high (1024/2048/4096); ``minimal``
    takes Anthropic's minimum and ``xhigh`` doubles ``high``.
    """

    minimal: Budget = 1024
    low: Budget = 1024
    medium: Budget = 2048
    high: Budget = 4096
    xhigh: Budget = 8192


class AnthropicSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    api_key: str
    base_url: str | None = None
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 4096
    thinking_budgets: ThinkingBudgets = msgspec.field(default_factory=ThinkingBudgets)
    adaptive_thinking: list[str] = msgspec.field(default_factory=lambda: ["claude-opus-4-6", "claude-mythos"])
    anthropic_version: str | None = None
    anthropic_beta: list[str] = msgspec.field(default_factory=list)
