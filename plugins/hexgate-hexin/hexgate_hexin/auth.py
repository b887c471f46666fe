"""The Hexin backend's token: ``app_id`` / ``app_secret`` exchanged for ``user_id`` + ``token``.

``POST <app_url>`` with ``{"app_id", "app_secret"}`` answers ``{"data": {"user_id", "token"}}``
(upstreams.md §7; anything else is a refusal). Backend calls then send the headers
``userId: <user_id>`` and ``token: <token>``.

The token is cached and fetched again before it expires: at ``expires_in`` / an absolute expiry in
the answer when there is one, else after ``token_ttl`` seconds, minus ``refresh_margin`` (at most half
the lifetime). Concurrent callers share one exchange. A caller whose token the backend refuses calls
:meth:`TokenCache.invalidate` and tries once more with a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import msgspec

from hexgate.errors import HexgateError, UpstreamAuthError, UpstreamError
from hexgate.plugin_kit import from_transport_error
from hexgate_hexin.translate import token_expiry
from hexgate_hexin.wire import WireAuth

__all__ = ["Token", "TokenCache"]

_decoder = msgspec.json.Decoder(WireAuth)


class Token(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    token: str
    refresh_at: float
    """When to fetch a new one, on the cache's clock."""

    def headers(self) -> dict[str, str]:
        return {"userId": self.user_id, "token": self.token}


class TokenCache:
    """One app's token. ``clock`` (monotonic seconds) and ``wall`` (Unix seconds) may be replaced in tests."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        url: str,
        app_id: str,
        app_secret: str,
        ttl: float,
        margin: float,
    ) -> None:
        self._http = http
        self._url = url
        self._body = {"app_id": app_id, "app_secret": app_secret}
        self._secret = app_secret
        self._ttl = ttl
        self._margin = margin
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.clock: Callable[[], float] = time.monotonic
        self.wall: Callable[[], float] = time.time
        self.exchanges = 0
        """How many times the secret was exchanged (for tests and logs)."""

    def _fresh(self, token: Token | None) -> bool:
        return token is not None and self.clock() < token.refresh_at

    async def get(self) -> Token:
        """A valid token, exchanging the secret when there is none or it is due.

        Raises :class:`UpstreamAuthError` (502) when the exchange is refused, :class:`UpstreamConnectError`
        / :class:`UpstreamTimeout` when the auth endpoint cannot be reached."""
        token = self._token
        if token is not None and self._fresh(token):
            return token
        async with self._lock:
            if self._token is not None and self._fresh(self._token):
                return self._token
            self._token = await self._exchange()
            return self._token

    def invalidate(self, token: Token) -> None:
        """Forget ``token`` (the backend refused it); a newer one fetched meanwhile is kept."""
        if self._token is token:
            self._token = None

    async def _exchange(self) -> Token:
        self.exchanges += 1
        try:
            response = await self._http.post(self._url, json=self._body, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise from_transport_error(exc, upstream="the Hexin auth endpoint") from None
        if response.status_code >= 500:
            raise UpstreamError(f"the Hexin auth endpoint answered {response.status_code}")
        try:
            answer = _decoder.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            answer = WireAuth()
        if not response.is_success or answer.data is None:
            reason = answer.status_msg or answer.message or f"HTTP {response.status_code}"
            raise self._refused(reason)
        now = self.clock()
        expires = token_expiry(answer.data, now=now, wall=self.wall(), default_ttl=self._ttl)
        margin = min(self._margin, max(expires - now, 0.0) / 2)
        return Token(user_id=str(answer.data.user_id), token=answer.data.token, refresh_at=expires - margin)

    def _refused(self, reason: str) -> HexgateError:
        reason = reason.replace(self._secret, "[redacted]") if self._secret else reason
        return UpstreamAuthError(f"the Hexin auth endpoint refused app_id/app_secret: {reason}")
