"""What a plugin gives the conformance suite: its :class:`Target` and the :class:`Scenario` its driver
arranges for each feature (public through :mod:`hexgate.testing.conformance`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hexgate.protocol import ProviderFactory

__all__ = ["FEATURES", "TOOL", "Scenario", "Target", "emulated", "unsupported", "untested"]

FEATURES: dict[str, str] = {
    "chat": "chat completion",
    "stream": "streamed chat",
    "stream_usage": "stream usage chunk",
    "tool_calls": "tool calls (streamed)",
    "reasoning": "reasoning_content",
    "embeddings": "embeddings (float, base64; dimensions where offered)",
    "models": "model list and metadata",
    "error_400": "upstream 400 → 400",
    "error_auth": "upstream 401/403 → 502",
    "error_404": "upstream 404 → 404",
    "error_429": "upstream 429 → 429 + retry-after",
    "error_5xx": "upstream 500 → 502, 503 → 503",
    "timeout": "upstream timeout → 504",
    "error_in_200": "error inside a 200 → 502 (429 quota, 503 overloaded)",
    "midstream_error": "mid-stream error frame",
    "cancellation": "client disconnect cancels upstream",
    "secrets": "no secret in errors or logs",
}
"""Matrix rows: feature id → what it checks. ``Target.arrange`` is called with these ids, except
that ``error_auth`` arranges ``error_401`` and ``error_403``, ``error_5xx`` arranges ``error_500``
and ``error_503``, and ``stream_usage`` arranges ``stream``."""

TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
"""The one tool the ``tool_calls`` checks offer (renamed to ``Scenario.tool_name``); the arranged
upstream must call it."""


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """What the arranged upstream will do for one feature, and what the suite should expect."""

    model: str | None = None
    """The upstream model id to ask for (None: ``Target.model``)."""
    prompt: str = "Say hello."
    """The user message sent (a provider without an upstream can be driven by it)."""
    text: str | None = None
    """The exact answer text the upstream gives, when known (``chat``, ``stream``)."""
    tool_name: str = "get_weather"
    """``tool_calls``: the name of the one tool offered (see :data:`TOOL`); the upstream calls it."""
    dimensions: int | None = None
    """``embeddings``: ask for this many dimensions (None: do not send ``dimensions``)."""
    cancelled: Callable[[], bool] | None = None
    """``cancellation``: true once the upstream saw the client's request go away."""
    unsupported: str | None = None
    untested: str | None = None
    emulated: str | None = None
    """How the provider emulates the feature (the matrix says "emulated (how)")."""


def unsupported(reason: str) -> Scenario:
    """The provider does not offer this feature, because ``reason``: the check is skipped."""
    return Scenario(unsupported=reason)


def untested(reason: str) -> Scenario:
    """The provider may offer it, but this wiring cannot make its upstream do it: skipped."""
    return Scenario(untested=reason)


def emulated(how: str, **fields: Any) -> Scenario:
    """The feature passes through an emulation (``how``), e.g. tool calls parsed from text."""
    return Scenario(emulated=how, **fields)


@dataclass(frozen=True, kw_only=True)
class Target:
    """The provider under test, as a ``[providers.<name>]`` table in a gateway."""

    name: str
    """The provider id in the gateway (model names are ``<name>/<model>``) and the matrix column."""
    factory: ProviderFactory | str
    """The factory, or what ``plugin = "..."`` names (an entry point or ``module:attr``)."""
    settings: Mapping[str, Any]
    """The provider's table, without ``plugin``."""
    model: str
    """The upstream model id the checks ask for unless a :class:`Scenario` says otherwise."""
    arrange: Callable[[str], Scenario]
    """The scenario driver: make the upstream do a feature (ids in :data:`FEATURES`, plus
    ``error_401``, ``error_403``, ``error_500``, ``error_503``) and say what to expect."""
    secret: str | None = None
    """The credential in ``settings`` that must never reach a client or a log line."""
    timeouts: Mapping[str, float] = field(default_factory=lambda: {"first_byte": 1.5, "total": 30.0})
    """The provider's ``timeouts`` table; ``timeout`` expects a 504 once ``first_byte`` passes."""

    def plugin(self) -> str:
        if isinstance(self.factory, str):
            return self.factory
        return f"{self.factory.__module__}:{getattr(self.factory, '__qualname__', '')}"
