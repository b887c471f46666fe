"""google-genai failures → hexgate's error tree (ARCHITECTURE.md "Errors").

Gemini error bodies are ``{"error": {"code", "message", "status", "details": [...]}}``
(capture ``google--google-429-retry-info.json``). The retry hint lives in the body:
``details[] {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}``;
a ``retry-after`` (or ``retry-after-ms``) header, when present, wins. Transport failures map
through :func:`hexgate.plugin_kit.from_transport_error`. A 400 whose details say ``API_KEY_INVALID``
is our configuration's fault, so it maps like a 401 (502). The upstream's message is kept;
:func:`hexgate.errors.redact` strips anything key-like from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.genai import errors as genai_errors

from hexgate.errors import HexgateError, from_upstream_status
from hexgate.plugin_kit import retry_after

__all__ = ["from_api_error", "retry_delay"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _details(body: Any) -> Iterable[dict[str, Any]]:
    if isinstance(body, dict):
        inner = body.get("error", body)
        details = inner.get("details") if isinstance(inner, dict) else None
        if isinstance(details, list):
            return [d for d in details if isinstance(d, dict)]
    return []


def retry_delay(body: Any) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail's ``retryDelay`` (``"34.4s"``), else None."""
    for detail in _details(body):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DURATION.match(str(detail.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


def _header_delay(response: Any) -> float | None:
    headers = getattr(response, "headers", None)
    return retry_after(headers) if headers is not None else None


def _bad_key(body: Any) -> bool:
    return any(detail.get("reason") == "API_KEY_INVALID" for detail in _details(body))


def from_api_error(exc: genai_errors.APIError) -> HexgateError:
    """An SDK ``APIError`` / ``ClientError`` / ``ServerError`` → the hexgate error for its status."""
    status = exc.code if isinstance(exc.code, int) and exc.code >= 400 else 502
    message = exc.message or (str(exc.status) if exc.status else f"status {status}")
    message = f"gemini: {message}"
    if status == 400 and _bad_key(exc.details):
        status = 401
    retry_after = _header_delay(exc.response)
    if retry_after is None:
        retry_after = retry_delay(exc.details)
    code = None if status in (402, 429) or not exc.status else str(exc.status).lower()
    return from_upstream_status(status, message, retry_after=retry_after, code=code)
