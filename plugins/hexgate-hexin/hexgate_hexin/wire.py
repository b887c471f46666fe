"""The Hexin / HiThink backend's own shapes, read leniently (upstreams.md §7; the reference client is
``hexin-server`` 0.1.23, ``hexin_server/__main__.py``).

The backend speaks OpenAI's formats per model family, but wraps answers in ``{"data": ...}`` at
will and reports failures in the body, often with HTTP 200: ``{"success": false, "status_code",
"status_msg"}`` or ``{"error": {"type", "message"}}``. Every field here is optional for that reason.
"""

from __future__ import annotations

from typing import Any

from msgspec import Raw, Struct, field

__all__ = [
    "WireAuth",
    "WireAuthData",
    "WireChoice",
    "WireCompletion",
    "WireEmbeddingItem",
    "WireEmbeddings",
    "WireEnvelope",
    "WireError",
    "WireFunction",
    "WireMessage",
    "WireToolCall",
    "WireUsage",
]


class WireError(Struct, kw_only=True):
    type: str | None = None
    message: str | None = None
    code: str | int | None = None
    param: str | None = None


class WireEnvelope(Struct, kw_only=True):
    """What every answer may be: a failure report, or a payload wrapped in ``data``."""

    success: bool | None = None
    status_code: int | str | None = None
    status_msg: str | None = None
    error: WireError | str | None = None
    data: Raw = Raw(b"")
    """The wrapped payload's JSON; empty when the answer is not wrapped."""


class WireAuthData(Struct, kw_only=True):
    user_id: str | int
    token: str
    expires_in: float | None = None
    """Seconds the token lives, when the backend says."""
    expire_time: float | str | None = None
    expires_at: float | str | None = None
    expire: float | str | None = None
    """An absolute expiry (Unix seconds or milliseconds) under any of these names."""


class WireAuth(Struct, kw_only=True):
    """``POST $HITHINK_APP_URL`` → ``{"data": {"user_id", "token"}}``; anything else is a refusal."""

    data: WireAuthData | None = None
    success: bool | None = None
    status_code: int | str | None = None
    status_msg: str | None = None
    message: str | None = None


class WireFunction(Struct, kw_only=True):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class WireToolCall(Struct, kw_only=True):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: WireFunction | None = None


class WireMessage(Struct, kw_only=True):
    """A choice's ``message`` or ``delta``."""

    role: str | None = None
    content: str | list[Any] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[WireToolCall] | None = None
    refusal: str | None = None


class WireChoice(Struct, kw_only=True):
    index: int = 0
    message: WireMessage | None = None
    delta: WireMessage | None = None
    text: str | None = None
    finish_reason: str | None = None


class _TokenDetails(Struct, kw_only=True):
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


class WireUsage(Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: _TokenDetails | None = None
    completion_tokens_details: _TokenDetails | None = None


class WireCompletion(Struct, kw_only=True):
    """A chat completion or one stream chunk (``choices[].message`` or ``choices[].delta``)."""

    id: str = ""
    created: int = 0
    model: str = ""
    choices: list[WireChoice] = field(default_factory=list)
    usage: WireUsage | None = None
    system_fingerprint: str | None = None


class WireEmbeddingItem(Struct, kw_only=True):
    embedding: list[float] | str
    index: int = 0


class WireEmbeddings(Struct, kw_only=True):
    data: list[WireEmbeddingItem] = field(default_factory=list)
    usage: WireUsage | None = None
    model: str | None = None
