"""The pipe between the gateway and a model worker process: length-prefixed msgpack frames.

Each frame is a 4-byte big-endian length, then one msgspec msgpack message (an array-like tagged
Struct, so a token's text costs a few bytes of framing). The gateway sends :class:`Init` once, then
:class:`Call` and :class:`Cancel`; the worker answers :class:`Ready` (or :class:`StartFailed`), then
per call any number of :class:`Started` / :class:`Piece` / :class:`Ended` events and exactly one
terminal :class:`Result` or :class:`Error`.
"""

from __future__ import annotations

import struct

import msgspec

from hexgate import errors
from hexgate.errors import HexgateError, UpstreamError

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "STATS",
    "Call",
    "Cancel",
    "ChildMessage",
    "Ended",
    "Error",
    "Init",
    "ParentMessage",
    "Piece",
    "Ready",
    "Result",
    "StartFailed",
    "Started",
    "Stats",
    "error_from",
    "error_to",
    "frame",
]

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
"""A frame longer than this (1 GiB) means the stream is corrupt."""


class _Msg(msgspec.Struct, array_like=True, tag=True):
    pass


class Init(_Msg, tag="init"):
    """The worker's factory (``module:callable``), its msgpack config and the gateway's ``sys.path``."""

    target: str
    config: bytes
    sys_path: list[str]


class Call(_Msg, tag="call"):
    """Run ``op`` with ``args`` (msgpack, the worker's own Struct) on the worker's thread ``lane`` (one
    call at a time per lane, in order); ``stream``: send events as they come."""

    id: int
    op: str
    lane: str
    args: bytes
    stream: bool


class Cancel(_Msg, tag="cancel"):
    """The caller went away: end call ``id`` at its next token (at once when it is still queued)."""

    id: int


class Ready(_Msg, tag="ready"):
    """The worker loaded; ``info`` is one line on what its native build uses (may be empty)."""

    pid: int
    info: str


class StartFailed(_Msg, tag="start_failed"):
    """The worker could not start (a model file missing, a bad setting); it exits next."""

    message: str


class Started(_Msg, tag="s"):
    id: int
    index: int


class Piece(_Msg, tag="t"):
    id: int
    index: int
    text: str


class Ended(_Msg, tag="f"):
    id: int
    index: int
    reason: str | None


class Result(_Msg, tag="r"):
    """Call ``id`` ended; ``value`` is the op's answer (msgpack)."""

    id: int
    value: bytes


class Error(_Msg, tag="e"):
    """Call ``id`` failed with a :class:`HexgateError` (``kind`` names its class in :mod:`hexgate.errors`)."""

    id: int
    kind: str
    message: str
    param: str | None
    code: str | None
    status: int


STATS = "_stats"
"""The op every worker answers itself, at once: :class:`Stats`."""


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """Calls the worker process has started running, and calls cancelled while still queued (never run)."""

    started: int
    skipped: int


ParentMessage = Init | Call | Cancel
ChildMessage = Ready | StartFailed | Started | Piece | Ended | Result | Error

_encoder = msgspec.msgpack.Encoder()


def frame(message: msgspec.Struct) -> bytes:
    """``message`` as one frame (header + body)."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


def error_to(call_id: int, exc: HexgateError) -> Error:
    """``exc`` as an :class:`Error` message for call ``call_id``."""
    return Error(
        id=call_id,
        kind=type(exc).__name__,
        message=exc.message,
        param=exc.param,
        code=exc.code,
        status=exc.status,
    )


def error_from(message: Error) -> HexgateError:
    """The :class:`HexgateError` an :class:`Error` describes (an :class:`UpstreamError` for a kind
    :mod:`hexgate.errors` does not define), with its status, param and code."""
    cls = getattr(errors, message.kind, None)
    if not (isinstance(cls, type) and issubclass(cls, HexgateError)):
        cls = UpstreamError
    exc = cls.__new__(cls)
    HexgateError.__init__(exc, message.message, param=message.param, code=message.code, status=message.status)
    return exc
