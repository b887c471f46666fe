"""Recorded upstream traffic in a folder (the ``../shared/fixtures`` formats), read back for tests:
:class:`Captures`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hexgate.testing._streams import replay_frames
from hexgate.testing._stub import Reply

__all__ = ["Captures"]

_SSE = {"content-type": "text/event-stream"}
_JSON = {"content-type": "application/json"}


class Captures:
    """The captures in ``directory``, by file name (``prefix`` is put before every name given).

    Three formats, told apart by the name's ending (see ``../shared/fixtures/README.md``):
    ``*.sse`` a raw SSE body, replayed byte for byte; ``*.chunks.txt`` one JSON payload a line, SSE
    framing removed; ``*.json`` a non-streamed body. Plugins subclass it for their naming and for
    what a capture should turn into (``captures`` fixture of :mod:`hexgate.testing.fixtures`).
    Missing files raise ``FileNotFoundError``; malformed JSON ``json.JSONDecodeError``.
    """

    def __init__(self, directory: str | Path, *, prefix: str = "") -> None:
        self.dir = Path(directory)
        self.prefix = prefix

    def path(self, name: str) -> Path:
        return self.dir / f"{self.prefix}{name}"

    def raw(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def json(self, name: str) -> Any:
        return json.loads(self.text(name))

    def lines(self, name: str) -> list[str]:
        """The non-blank lines of ``name`` (a ``*.chunks.txt``: one JSON payload each)."""
        return [line for line in self.text(name).splitlines() if line.strip()]

    def events(self, name: str) -> list[Any]:
        """The decoded payloads of a stream capture: the ``data:`` lines of ``*.sse``, else every line."""
        if name.endswith(".sse"):
            return [json.loads(line[6:]) for line in self.text(name).splitlines() if line.startswith("data: ")]
        return [json.loads(line) for line in self.lines(name)]

    def frames(self, name: str, *, style: str = "data", done: bool = False) -> list[bytes]:
        """SSE frames as the service sent them: ``*.sse`` split after each blank line, bytes as they
        are; ``*.chunks.txt`` through :func:`~hexgate.testing.replay_frames` (``style``, ``done``)."""
        if name.endswith(".sse"):
            return [part for part in re.split(rb"(?<=\n\n)", self.raw(name)) if part]
        return replay_frames(self.lines(name), style=style, done=done)

    def reply(self, name: str, *, status: int = 200, style: str = "data", done: bool = False) -> Reply:
        """A :class:`~hexgate.testing.Reply` for a :class:`~hexgate.testing.StubUpstream`: a ``*.json``
        body as is, a stream capture as :meth:`frames`, sent frame by frame as ``text/event-stream``."""
        if name.endswith(".json"):
            return Reply(status=status, body=self.raw(name), headers=dict(_JSON))
        return Reply(status=status, body=self.frames(name, style=style, done=done), headers=dict(_SSE))
