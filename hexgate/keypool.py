"""Upstream key pools: several keys for one provider, rotated by the core's HTTP client.

A ``[providers.<id>]`` table with ``api_key = ["${K1}", "${K2}"]`` (or ``api_keys = [...]``) hands its
plugin one placeholder ``api_key`` (:func:`hexgate.settings.placeholder_key`); the plugin, or its SDK,
puts it wherever that upstream wants its key (``Authorization: Bearer``, ``x-api-key``,
``x-goog-api-key``, ``?key=``). The provider's HTTP client swaps the placeholder for a pool key on
every request, so no plugin needs code for it:

- keys take turns (round robin over the usable ones);
- a 429 cools the key down for the answer's ``retry-after`` (seconds or an HTTP date; 60 s when it
  gives none) and the request goes again at once on the next usable key;
- a 401 or 403 takes the key out until the config is reloaded, logged once with its last 4
  characters only, and the request goes again on the next usable key;
- when no key is usable, the one whose cool-down ends first is used (the upstream's own answer,
  a 429 with its ``retry-after``, then reaches the client); when every key is out, the last one.

A request whose body is a stream not yet read (none of the plugins sends one) is sent once.
:meth:`KeyPool.states` is what ``GET /providers`` shows per key.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import httpx
import msgspec

from hexgate.plugin_kit import retry_after

__all__ = ["DEFAULT_COOLDOWN", "KeyPool", "KeyState"]

log = logging.getLogger("hexgate.keypool")

DEFAULT_COOLDOWN = 60.0
"""Seconds a key rests after a 429 that says nothing about when to come back."""


class KeyState(msgspec.Struct, kw_only=True):
    """One pool key as ``GET /providers`` shows it."""

    key: str
    """``…`` and the key's last 4 characters."""
    state: Literal["active", "cooling", "disabled"]
    cooldown: float
    """Seconds until a cooling key is used again (0 otherwise)."""
    requests: int
    """Requests sent with this key since start or the last reload."""
    last_status: int | None = None
    """The upstream status of the key's last request."""


class _Key:
    __slots__ = ("disabled", "last_status", "requests", "secret", "until")

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.until = 0.0
        self.disabled = False
        self.requests = 0
        self.last_status: int | None = None

    @property
    def tail(self) -> str:
        return "…" + self.secret[-4:]


class KeyPool:
    """The keys of one provider and their state; bounded by the config (no per-request memory)."""

    def __init__(self, keys: list[str], *, placeholder: str, provider_id: str) -> None:
        if not keys:
            raise ValueError("a key pool needs at least one key")
        self.placeholder = placeholder
        self.provider_id = provider_id
        self._keys = [_Key(k) for k in keys]
        self._next = 0
        self._placeholder_bytes = placeholder.encode()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(k.secret for k in self._keys)

    def states(self, now: float | None = None) -> list[KeyState]:
        now = time.monotonic() if now is None else now
        out = []
        for k in self._keys:
            left = max(0.0, k.until - now)
            state: Literal["active", "cooling", "disabled"] = (
                "disabled" if k.disabled else "cooling" if left > 0 else "active"
            )
            out.append(
                KeyState(
                    key=k.tail,
                    state=state,
                    cooldown=round(left, 1),
                    requests=k.requests,
                    last_status=k.last_status,
                )
            )
        return out

    def _pick(self, now: float, tried: set[int]) -> int | None:
        """The next usable key not yet tried for this request, round robin; else, on a request's first
        attempt, the key whose cool-down ends first; else (every key out, or a retry) None."""
        n = len(self._keys)
        for step in range(n):
            i = (self._next + step) % n
            k = self._keys[i]
            if i not in tried and not k.disabled and k.until <= now:
                self._next = (i + 1) % n
                return i
        waiting = [i for i in range(n) if not self._keys[i].disabled]
        if waiting and not tried:
            return min(waiting, key=lambda i: self._keys[i].until)
        return None

    def _bind(self, request: httpx.Request, secret: str) -> httpx.Request:
        """``request`` with the placeholder swapped for ``secret`` in its headers and URL."""
        ph, key = self._placeholder_bytes, secret.encode()
        headers = [(name, value.replace(ph, key)) for name, value in request.headers.raw]
        url = request.url
        if ph in url.raw_path:
            url = url.copy_with(raw_path=url.raw_path.replace(ph, key))
        return httpx.Request(request.method, url, headers=headers, stream=request.stream, extensions=request.extensions)

    async def send(self, transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through ``transport`` with a pool key (see the module docstring); a
        request that does not carry the placeholder (an image fetch, say) goes as it is."""
        ph = self._placeholder_bytes
        if ph not in request.url.raw_path and not any(ph in value for _, value in request.headers.raw):
            return await transport.handle_async_request(request)
        try:
            request.content  # noqa: B018 - raises when the body is a stream not yet read
            replayable = True
        except httpx.RequestNotRead:
            replayable = False
        tried: set[int] = set()
        while True:
            i = self._pick(time.monotonic(), tried)
            if i is None:  # every key is out: the upstream's own refusal reaches the client
                i = self._next
                self._next = (i + 1) % len(self._keys)
            key = self._keys[i]
            tried.add(i)
            key.requests += 1
            response = await transport.handle_async_request(self._bind(request, key.secret))
            status = key.last_status = response.status_code
            if status == 429:
                key.until = time.monotonic() + _retry_after(response.headers)
            elif status in (401, 403):
                if not key.disabled:
                    key.disabled = True
                    log.warning(
                        "provider %s: upstream refused key %s with %d; it is out of the pool until reload",
                        self.provider_id,
                        key.tail,
                        status,
                    )
            else:
                return response
            if not replayable or not self._usable(time.monotonic(), tried):
                return response
            await response.aclose()

    def _usable(self, now: float, tried: set[int]) -> bool:
        """Is there a key not yet tried for this request that may be used now?"""
        return any(i not in tried and not k.disabled and k.until <= now for i, k in enumerate(self._keys))


def _retry_after(headers: httpx.Headers) -> float:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (:func:`hexgate.plugin_kit.retry_after`); else the default."""
    seconds = retry_after(headers)
    return DEFAULT_COOLDOWN if seconds is None else seconds
