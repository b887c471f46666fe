"""What one request tells the ops middleware: the model asked for, the tokens counted, a mid-stream error.

The middleware (:mod:`hexgate.ops.middleware`) puts a :class:`Meter` in the ASGI scope's state
before the route runs; routes fill it (:func:`meter_of`) and the middleware reads it once the
answer is complete, to charge the key, account usage and record metrics. Cheap on purpose: a
few attribute writes per request.
"""

from __future__ import annotations

from typing import Any

__all__ = ["METER_KEY", "Meter", "meter_of"]

METER_KEY = "hexgate_meter"
"""Where a request's :class:`Meter` lives in ``scope["state"]``."""


class Meter:
    """Per-request figures: ``operation`` (set by the middleware: ``chat``, ``embeddings``, …),
    ``model`` (the name the client sent), ``prompt_tokens`` / ``completion_tokens`` (as the upstream
    reported them or as hexgate counted them), ``error`` (an error type that reached the client after
    a 200, e.g. a mid-stream error frame)."""

    __slots__ = ("completion_tokens", "error", "model", "operation", "prompt_tokens")

    def __init__(self, operation: str = "") -> None:
        self.operation = operation
        self.model: str | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.error: str | None = None

    def tokens(self, prompt: int, completion: int) -> None:
        """Record the request's token counts (the last call wins)."""
        self.prompt_tokens = max(0, int(prompt))
        self.completion_tokens = max(0, int(completion))

    def usage(self, usage: Any) -> None:
        """Record an OpenAI ``usage`` object (chat or embeddings); None or a missing count is left at 0."""
        if usage is None:
            return
        prompt = getattr(usage, "prompt_tokens", 0)
        completion = getattr(usage, "completion_tokens", 0)
        self.tokens(prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0)


def meter_of(request: Any, *, model: str) -> Meter:
    """The :class:`Meter` of ``request`` (a Litestar request) with ``model`` noted; a detached one when
    no ops middleware runs (an app assembled without it), so routes never need to check."""
    state = request.scope.get("state")
    meter = state.get(METER_KEY) if isinstance(state, dict) else None
    if not isinstance(meter, Meter):
        meter = Meter()
    meter.model = model
    return meter
