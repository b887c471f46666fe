"""OpenAI Responses API on the wire (``POST /v1/responses``); filled out by the Responses work.

Only the names the plugin contract refers to live here for now.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, Struct, UnsetType

__all__ = ["Response", "ResponseRequest", "ResponseStreamEvent"]


class ResponseRequest(Struct, kw_only=True):
    model: str
    input: str | list[Any]
    stream: bool | UnsetType | None = UNSET


class Response(Struct, kw_only=True):
    id: str
    model: str
    output: list[Any]
    object: str = "response"


class ResponseStreamEvent(Struct, kw_only=True):
    type: str
    sequence_number: int
