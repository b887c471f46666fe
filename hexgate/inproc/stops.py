"""Stop strings cut out of streamed text, the way OpenAI applies ``stop``: the text ends just before
the first stop string and the stop string itself is never sent (API reference, ``stop``)."""

from __future__ import annotations

__all__ = ["StopFilter"]


class StopFilter:
    """Cut streamed text at the first of ``stops`` (OpenAI leaves the stop string out).

    :meth:`feed` takes the next piece and returns ``(text to emit now, stopped)``; text that might be
    the start of a stop string is held until the next piece settles it; :meth:`flush` returns what
    is held when generation ends without a stop. With no ``stops`` every piece passes through as is.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """``(text to emit now, stopped)`` for the next ``piece``; after ``stopped`` is True, stop feeding."""
        if not self._stops:
            return piece, False
        text = self._held + piece
        hits = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return text[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), keep, -1):
                if text.endswith(stop[:size]):
                    keep = size
                    break
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """The text still held (a possible stop-string prefix that never completed); empties the filter."""
        held, self._held = self._held, ""
        return held
