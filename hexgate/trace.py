"""What happened to one request on its way upstream: :class:`Trace`, kept in the ASGI scope's state
under :data:`TRACE_KEY`. The resilient call path (:mod:`hexgate.resilience`) notes each attempt; the
gateway middleware turns it into ``x-hexgate-provider`` / ``x-hexgate-attempts`` headers, and
accounting books usage under the target that answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hexgate.registry import Route

__all__ = ["TRACE_KEY", "Trace"]

TRACE_KEY = "hexgate_trace"
"""Where a request's :class:`Trace` lives in ``scope["state"]``."""


class Trace:
    """What happened to one request: the target tried last (the one that answered, on success), how
    many upstream attempts were made, and whether the last one answered. A target that never answered
    is only a name a client sent: accounting keys nothing by it unless the config names it."""

    __slots__ = ("answered", "attempts", "provider", "target")

    def __init__(self) -> None:
        self.attempts = 0
        self.provider: str | None = None
        self.target: str | None = None
        self.answered = False

    def note(self, route: Route, *, answered: bool = False) -> None:
        """An attempt on ``route`` (``answered``: one that has already succeeded)."""
        self.attempts += 1
        self.provider = route.provider_id
        self.target = route.target
        self.answered = answered
