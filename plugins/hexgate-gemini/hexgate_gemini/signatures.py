"""How Gemini's ``thoughtSignature`` survives an OpenAI-shaped history.

Gemini 3 rejects a tool turn whose first ``functionCall`` part lost its signature
(ai.google.dev/gemini-api/docs/thought-signatures), and an OpenAI client keeps only
what OpenAI's schema has. Two carriers, both undone by :mod:`hexgate_gemini.translate`:

- a function call's signature rides in its tool call id: ``<id>__thought__<signature>``
  (URL-safe base64 without padding, so the id stays URL-safe; LiteLLM uses the same
  separator). Every client sends tool call ids back, whatever else it drops;
- a text part's signature rides in ``reasoning_details`` as
  ``{"type": "reasoning.encrypted", "data": <base64 as Gemini sent it>, "format": "google-gemini-v1"}``
  (OpenRouter's item shape), and goes back onto the assistant turn's last text part.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from hexgate.schemas.chat import ReasoningDetail

__all__ = [
    "SIGNATURE_FORMAT",
    "decode",
    "detail",
    "encode",
    "is_synthetic",
    "join_id",
    "new_call_id",
    "split_id",
]

SIGNATURE_FORMAT = "google-gemini-v1"
_SEPARATOR = "__thought__"
_SYNTHETIC = "call_"


def encode(signature: bytes) -> str:
    """Signature bytes → standard base64, the text Gemini's REST API sends."""
    return base64.b64encode(signature).decode("ascii")


def decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not → bytes. Raises ValueError when it is not base64."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not a base64 thought signature: {exc}") from None


def new_call_id() -> str:
    """A tool call id for a call Gemini sent without one: ``call_`` + 24 hex digits, as OpenAI's look."""
    return f"{_SYNTHETIC}{uuid.uuid4().hex[:24]}"


def is_synthetic(call_id: str) -> bool:
    """True for ids hexgate made up (never sent back to Gemini as ``functionCall.id``)."""
    return call_id.startswith(_SYNTHETIC)


def join_id(call_id: str, signature: bytes | None) -> str:
    """The OpenAI tool call id carrying ``signature``."""
    if not signature:
        return call_id
    return f"{call_id}{_SEPARATOR}{base64.urlsafe_b64encode(signature).decode('ascii').rstrip('=')}"


def split_id(tool_call_id: str) -> tuple[str, bytes | None]:
    """``(call id, signature or None)`` from an OpenAI tool call id made by :func:`join_id`.

    An id whose suffix is not base64 is returned whole, without a signature.
    """
    base, sep, tail = tool_call_id.partition(_SEPARATOR)
    if not sep or not tail:
        return tool_call_id, None
    try:
        return base, decode(tail)
    except ValueError:
        return tool_call_id, None


def detail(signature: bytes) -> ReasoningDetail:
    """The ``reasoning_details`` item carrying a text part's signature."""
    return ReasoningDetail(type="reasoning.encrypted", data=encode(signature), format=SIGNATURE_FORMAT)
