"""hexgate's error tree, its two dialects' envelopes, and the one ASGI renderer.

Every failure a client can see is one of these, rendered by :func:`render` (and sent at the ASGI
level by :func:`send_error`) as OpenAI's envelope,
``{"error": {"message": str, "type": str, "param": str | null, "code": str | null}}``, with the
status and headers the exception carries (table in ARCHITECTURE.md, "Errors")::

    class                         status  type                    code (when the class fixes it)
    HexgateError                  500     server_error            -
    ├── InvalidRequest            400     invalid_request_error   -      bad body, bad field, bad parameter
    │   ├── Unsupported           400     invalid_request_error   unsupported
    │   ├── ModelNotFound         404     invalid_request_error   model_not_found (param "model")
    │   ├── NotFound              404     invalid_request_error   -      no route for the path
    │   ├── MethodNotAllowed      405     invalid_request_error   -
    │   ├── RequestTimeout        408     invalid_request_error   request_timeout
    │   ├── PayloadTooLarge       413     invalid_request_error   -
    │   ├── UnsupportedMediaType  415     invalid_request_error   unsupported_media_type
    │   └── HeadersTooLarge       431     invalid_request_error   request_header_fields_too_large
    ├── AuthenticationFailed      401     authentication_error    -      wrong admin key; a client token refused
    │   └── Unauthorized          401     authentication_error    invalid_api_key (www-authenticate: Bearer)
    ├── PermissionDenied          403     permission_error        -      the key may not (code model_not_allowed)
    ├── RateLimited               429     rate_limit_error        -      a key's rpm/tpm (retry-after, x-ratelimit-*)
    ├── QuotaExceeded             429     insufficient_quota      insufficient_quota (x-should-retry: false)
    ├── StoreUnavailable          503     server_error            store_unavailable (retry-after: 1)
    └── UpstreamError             502     upstream_error          -      unreadable answer, other upstream 5xx
        ├── UpstreamAuthError     502     upstream_error          -      the upstream refused our key (our config)
        ├── UpstreamRejected      4xx     invalid_request_error   -      the upstream refused the request (400/404/422)
        ├── UpstreamRateLimited   429     rate_limit_error        rate_limit_exceeded (retry-after when known)
        ├── UpstreamOverloaded    503     upstream_error          upstream_overloaded (Anthropic 529, any 503)
        ├── UpstreamTimeout       504     timeout_error           -
        └── UpstreamConnectError  502     upstream_error          -      nothing reached the upstream (safe to retry)

Clients of the Messages dialect (``/v1/messages``) get the same failures in that dialect's shape,
``{"type": "error", "error": {"type": str, "message": str}}``, from :func:`messages_error`
(statuses and types below, from the Messages API's "Errors" page); :func:`render` picks the dialect
from the request's path, so every refusal (ASGI middleware or route) leaves in the client's shape.

Providers raise only these (never a web-framework exception). Messages say what
to fix and never carry an upstream key or token: :func:`redact` strips anything
that looks like one before a message leaves the process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

import msgspec

if TYPE_CHECKING:
    from litestar.types import Send

__all__ = [
    "MESSAGES_PATH",
    "AuthenticationFailed",
    "ErrorBody",
    "ErrorEnvelope",
    "HeadersTooLarge",
    "HexgateError",
    "InvalidRequest",
    "MessagesError",
    "MessagesErrorEnvelope",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimited",
    "RequestTimeout",
    "StoreUnavailable",
    "Unauthorized",
    "Unsupported",
    "UnsupportedMediaType",
    "UpstreamAuthError",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamOverloaded",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamTimeout",
    "envelope",
    "from_upstream_status",
    "messages_error",
    "redact",
    "render",
    "send_error",
]

MESSAGES_PATH = "/v1/messages"
"""Requests whose path starts with this get their errors in the Messages dialect's shape."""


class ErrorBody(msgspec.Struct, kw_only=True):
    """The inner object of OpenAI's error envelope; every key is always present."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct):
    """``{"error": {...}}``: the body of every non-2xx answer and of a mid-stream error frame."""

    error: ErrorBody


class HexgateError(Exception):
    """Base of the tree; carries the HTTP status, OpenAI ``type``, ``param``, ``code`` and extra headers."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = redact(message)
        self.param = param
        self.code = code
        self.headers: dict[str, str] = dict(headers or {})
        if status is not None:
            self.status = status  # type: ignore[misc]

    def body(self) -> ErrorEnvelope:
        return ErrorEnvelope(ErrorBody(message=self.message, type=self.type, param=self.param, code=self.code))


class InvalidRequest(HexgateError):
    status = 400
    type = "invalid_request_error"


class Unsupported(InvalidRequest):
    """The provider does not implement this operation or parameter (for ``respond``: the core bridges)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message, param=param, code="unsupported")


class ModelNotFound(InvalidRequest):
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model", code="model_not_found")


class NotFound(InvalidRequest):
    """No route for the request's path."""

    status = 404


class MethodNotAllowed(InvalidRequest):
    """The route exists but not for the request's method."""

    status = 405


class RequestTimeout(InvalidRequest):
    """The client did not send its request body within ``seconds`` (``server.client_timeout``)."""

    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the request body did not arrive within {seconds:g} s (server.client_timeout)", code="request_timeout"
        )


class PayloadTooLarge(InvalidRequest):
    status = 413


class UnsupportedMediaType(InvalidRequest):
    """A route whose body is JSON got another ``content-type``."""

    status = 415

    def __init__(self, message: str) -> None:
        super().__init__(message, code="unsupported_media_type")


class HeadersTooLarge(InvalidRequest):
    """The request's header names and values add up to more than ``limit`` bytes."""

    status = 431

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request headers exceed {limit} bytes (server.max_header_size)",
            code="request_header_fields_too_large",
        )


class AuthenticationFailed(HexgateError):
    status = 401
    type = "authentication_error"


class Unauthorized(AuthenticationFailed):
    """The gateway key is missing, wrong, revoked or expired; asks for a bearer token."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_api_key", headers={"www-authenticate": "Bearer"})


class PermissionDenied(HexgateError):
    """The key is valid but may not do this (e.g. use this model: code ``model_not_allowed``)."""

    status = 403
    type = "permission_error"


class RateLimited(HexgateError):
    """A limit of the gateway's own (a key's requests or tokens per minute) is reached; ``headers``
    carry ``retry-after`` and the ``x-ratelimit-*`` set."""

    status = 429
    type = "rate_limit_error"


class QuotaExceeded(HexgateError):
    """The key's budget is spent: OpenAI's ``insufficient_quota``, with ``x-should-retry: false``
    (the official SDKs then do not retry) among ``headers``."""

    status = 429
    type = "insufficient_quota"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code="insufficient_quota", headers={**(headers or {}), "x-should-retry": "false"})


class StoreUnavailable(HexgateError):
    """The gateway's key store cannot be reached: keyed requests are refused (fail closed)."""

    status = 503

    def __init__(self, message: str = "the gateway's key store cannot be reached; try again shortly") -> None:
        super().__init__(message, code="store_unavailable", headers={"retry-after": "1"})


class UpstreamError(HexgateError):
    status = 502
    type = "upstream_error"


class UpstreamAuthError(UpstreamError):
    pass


class UpstreamRejected(UpstreamError):
    """The upstream said the request itself is wrong; the client should fix it (status passed on)."""

    status = 400
    type = "invalid_request_error"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        headers = {"retry-after": _seconds(retry_after)} if retry_after is not None else None
        super().__init__(message, code=code or "rate_limit_exceeded", headers=headers)
        self.retry_after = retry_after


class UpstreamOverloaded(UpstreamError):
    status = 503

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        headers = {"retry-after": _seconds(retry_after)} if retry_after is not None else None
        super().__init__(message, code="upstream_overloaded", headers=headers)
        self.retry_after = retry_after


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"


class UpstreamConnectError(UpstreamError):
    pass


def _seconds(value: float) -> str:
    return str(max(0, int(value + 0.999)))


def from_upstream_status(
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
    code: str | None = None,
    param: str | None = None,
) -> HexgateError:
    """Map an upstream HTTP status to the error tree (ARCHITECTURE.md, "Errors").

    401/403 → :class:`UpstreamAuthError` (502); 402/429 → :class:`UpstreamRateLimited` (429);
    400/404/409/413/422 → :class:`UpstreamRejected` with the same status; 408/504 →
    :class:`UpstreamTimeout`; 503/529 → :class:`UpstreamOverloaded`; anything else → 502.
    """
    if status in (401, 403):
        return UpstreamAuthError(f"upstream refused the configured credentials ({status}): {message}", code=code)
    if status in (402, 429):
        return UpstreamRateLimited(message, retry_after=retry_after, code=code)
    if status in (408, 504):
        return UpstreamTimeout(message, code=code)
    if status in (503, 529):
        return UpstreamOverloaded(message, retry_after=retry_after)
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status if status != 404 else 404, code=code, param=param)
    return UpstreamError(f"upstream answered {status}: {message}", code=code)


_SECRET = re.compile(
    r"(?i)(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?<=bearer )[A-Za-z0-9._\-]{12,}|(?<=key=)[A-Za-z0-9._\-]{12,})"
)


def redact(text: str) -> str:
    """Replace anything that looks like an API key or bearer token with ``[redacted]``."""
    return _SECRET.sub("[redacted]", text)


def envelope(message: str, *, type: str, param: str | None = None, code: str | None = None) -> ErrorEnvelope:
    """Build the OpenAI error envelope for a failure that is not a :class:`HexgateError`."""
    return ErrorEnvelope(ErrorBody(message=redact(message), type=type, param=param, code=code))


# ---------------------------------------------------------------- the Messages dialect


class MessagesError(msgspec.Struct):
    """The inner object of the Messages dialect's error body."""

    type: str
    message: str


class MessagesErrorEnvelope(msgspec.Struct, tag="error", tag_field="type"):
    """``{"type": "error", "error": {"type", "message"}}``: the Messages dialect's error body and the
    data of its ``event: error`` stream frame."""

    error: MessagesError


_MESSAGES_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def messages_error(
    status: int, message: str, *, type: str | None = None, code: str | None = None
) -> tuple[int, MessagesErrorEnvelope]:
    """The status and body a Messages-dialect client gets for a failure that hexgate renders with
    ``status``, OpenAI ``type`` and ``code`` (any :class:`HexgateError`: ``messages_error(exc.status,
    exc.message, type=exc.type, code=exc.code)``).

    400 ``invalid_request_error``, 401 ``authentication_error``, 403 ``permission_error``, 404
    ``not_found_error``, 413 ``request_too_large``, 429 ``rate_limit_error``, an overloaded upstream
    (503 ``upstream_overloaded``) 529 ``overloaded_error``, 504 ``timeout_error``; another 4xx keeps
    its status as ``invalid_request_error``, another 5xx as ``api_error``.
    """
    if code == "upstream_overloaded" or status == 529:
        status = 529
    kind = _MESSAGES_TYPES.get(status)
    if kind is None:
        kind = "invalid_request_error" if status < 500 else "api_error"
    if type == "authentication_error" and status == 401:
        kind = "authentication_error"
    return status, MessagesErrorEnvelope(MessagesError(type=kind, message=redact(message)))


# ---------------------------------------------------------------- the renderer

_encoder = msgspec.json.Encoder()


def render(exc: HexgateError, path: str) -> tuple[int, bytes]:
    """The status and JSON body of ``exc`` for a request to ``path``: the Messages dialect's shape
    under :data:`MESSAGES_PATH` (:func:`messages_error`), OpenAI's envelope elsewhere."""
    if path.startswith(MESSAGES_PATH):
        status, messages_body = messages_error(exc.status, exc.message, type=exc.type, code=exc.code)
        return status, _encoder.encode(messages_body)
    return exc.status, _encoder.encode(exc.body())


async def send_error(send: Send, exc: HexgateError, path: str) -> None:
    """Answer one HTTP request with ``exc`` at the ASGI level: :func:`render`'s status and body, with
    ``content-type``, ``content-length`` and the exception's own headers (``retry-after``,
    ``x-ratelimit-*``, ``www-authenticate``, ...)."""
    status, body = render(exc, path)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
