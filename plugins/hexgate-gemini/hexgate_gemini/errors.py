"""google-genai failures → hexgate's error tree (ARCHITECTURE.md "Errors").

Gemini error bodies are ``{"error": {"code", "message", "status", "details": [...]}}``
(capture ``google--google-429-retry-info.json``). The retry hint lives in the body:
``details[] {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}``;
a ``retry-after`` (or ``retry-after-ms``) header, when present, wins. Transport failures map
through :func:`hexgate.plugin_kit.from_transport_error`. A 400 whose details say ``API_KEY_INVALID``
is our configuration's fault, so it maps like a 401 (502). The upstream's message is kept;
:func:`hexgate.errors.redact` strips anything key-like from it.

Gemini may also answer 200 with that error object as the whole body (:func:`body_error`); the SDK
would read it as an empty answer. Its ``code`` is the HTTP status the failure stands for; without
one, its ``status`` (a ``google.rpc.Code`` name) gives it, by the HTTP mapping of
``google/rpc/code.proto`` (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
NOT_FOUND 404, RESOURCE_EXHAUSTED 429, INTERNAL 500, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...).
In a stream, the SDK itself raises on a ``{"error": ...}`` chunk (mapped by :func:`from_api_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec
from google.genai import errors as genai_errors

from hexgate.errors import HexgateError, from_upstream_status
from hexgate.plugin_kit import retry_after

__all__ = ["body_error", "from_api_error", "header_delay", "retry_delay", "sent_credentials"]

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


def header_delay(response: Any) -> float | None:
    """Seconds from a response's ``retry-after-ms`` / ``retry-after`` header
    (:func:`hexgate.plugin_kit.retry_after`), else None."""
    headers = getattr(response, "headers", None)
    return retry_after(headers) if headers is not None else None


def _bad_key(body: Any) -> bool:
    return any(detail.get("reason") == "API_KEY_INVALID" for detail in _details(body))


_CREDENTIAL_HEADERS = ("x-goog-api-key", "authorization")


def sent_credentials(headers: Any) -> tuple[str, ...]:
    """The credentials a request's ``headers`` carried (``x-goog-api-key``; the token of
    ``authorization: Bearer …`` in Vertex AI mode), whatever their shape: what an upstream may echo
    in an error text (the core's :func:`hexgate.errors.redact` only knows key-shaped strings)."""
    found = []
    for name in _CREDENTIAL_HEADERS:
        value = headers.get(name) if headers is not None else None
        if isinstance(value, str) and value:
            found.append(value.split(" ", 1)[1] if " " in value else value)
    return tuple(v for v in found if len(v) >= 4)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _from_parts(
    status: int,
    message: str,
    name: str | None,
    details: Any,
    retry_after: float | None,
    secrets: Iterable[str] = (),
) -> HexgateError:
    message = _scrub(f"gemini: {message}", secrets)
    if status == 400 and _bad_key(details):
        status = 401
    if retry_after is None:
        retry_after = retry_delay(details)
    code = None if status in (402, 429) or not name else name.lower()
    return from_upstream_status(status, message, retry_after=retry_after, code=code)


def from_api_error(exc: genai_errors.APIError) -> HexgateError:
    """An SDK ``APIError`` / ``ClientError`` / ``ServerError`` → the hexgate error for its status."""
    status = exc.code if isinstance(exc.code, int) and exc.code >= 400 else 502
    message = exc.message or (str(exc.status) if exc.status else f"status {status}")
    name = str(exc.status) if exc.status else None
    raw = getattr(exc.response, "response_stream", exc.response)  # a stream's error chunk: the SDK's wrapper
    sent = getattr(getattr(raw, "request", None), "headers", None)
    return _from_parts(status, message, name, exc.details, header_delay(exc.response), sent_credentials(sent))


_RPC_STATUS = {
    "CANCELLED": 499,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
"""``google.rpc.Code`` names → HTTP status (google/rpc/code.proto); any other name is 500."""


class _Error(msgspec.Struct):
    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[Any] | None = None


class _ErrorBody(msgspec.Struct):
    error: _Error | None = None


_error_body = msgspec.json.Decoder(_ErrorBody)
_ERROR_PREFIX = re.compile(rb'^\s*\{\s*"error"\s*:')


def body_error(body: bytes, *, retry_after: float | None = None, secrets: Iterable[str] = ()) -> HexgateError | None:
    """The hexgate error for a 2xx body that is Gemini's error object
    (``{"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}``),
    else None (only a body that starts with ``{"error":`` is decoded). The status is ``code`` when it
    is an HTTP error status, else the one ``status`` names; ``retry_after`` (seconds, from a header)
    wins over a ``RetryInfo`` detail; ``secrets`` are scrubbed from the message."""
    if not _ERROR_PREFIX.match(body[:64]):
        return None
    try:
        error = _error_body.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if error is None:
        return None
    if isinstance(error.code, int) and 400 <= error.code < 600:
        status = error.code
    else:
        status = _RPC_STATUS.get(error.status or "", 500)
    message = error.message or error.status or f"status {status}"
    details = {"error": {"details": error.details}} if error.details else None
    return _from_parts(status, message, error.status, details, retry_after, secrets)
