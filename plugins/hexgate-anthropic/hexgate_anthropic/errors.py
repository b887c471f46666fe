"""SDK and transport exceptions → the hexgate error tree (the table in :mod:`hexgate_anthropic.provider`'s
docstring); upstream text is scrubbed of the credentials the request carried."""

from __future__ import annotations

import anthropic
import httpx

from hexgate.errors import HexgateError, UpstreamConnectError, UpstreamError, UpstreamTimeout, from_upstream_status
from hexgate.plugin_kit import from_transport_error, retry_after
from hexgate_anthropic.translate import scrub, sent_credentials

__all__ = ["upstream_error"]


def _status_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return f"{error['message']} (Anthropic {error.get('type', 'error')})"
    if isinstance(body, str) and body:
        return body[:500]
    return f"Anthropic answered {exc.status_code}"


def upstream_error(exc: Exception) -> HexgateError:
    """The hexgate error for an SDK or transport exception (the table in the module docstring)."""
    if isinstance(exc, anthropic.APIStatusError):
        message = scrub(_status_message(exc), sent_credentials(exc.response.request.headers))
        return from_upstream_status(exc.status_code, message, retry_after=retry_after(exc.response.headers))
    if isinstance(exc, anthropic.APIConnectionError) and isinstance(exc.__cause__, httpx.HTTPError):
        exc = exc.__cause__  # the SDK wraps the transport's error: that one tells what happened
    if isinstance(exc, httpx.HTTPError):
        return from_transport_error(exc, upstream="Anthropic")
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamTimeout("Anthropic did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return UpstreamConnectError(f"could not reach Anthropic: {exc}")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return UpstreamError("Anthropic answered with a body the SDK could not read")
    return UpstreamError(f"Anthropic connection failed: {type(exc).__name__}: {exc}")
