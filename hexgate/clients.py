"""The upstream HTTP clients the core creates, hands to providers and closes.

Default transport: ``httpx_aiohttp.AiohttpTransport``, an ``httpx.AsyncClient`` on
aiohttp's connection pool, which costs about a quarter of httpx's own transport
in CPU per proxied request (../shared/bench/README.md: 791 vs 3,446 µs at 32
connections). Its limits: HTTP/1.1 only, and a connection reset mid-response
surfaces as ``httpx.ConnectTimeout``, so a ``ConnectTimeout`` never proves that
nothing was sent. ``HEXGATE_HTTP_TRANSPORT=httpx`` switches back to httpx's own.

The clients keep no cookies: one client serves every caller of a provider, so a cookie jar
would carry one caller's upstream session (say, a load balancer's affinity cookie) into every
other caller's requests; not parsing ``set-cookie`` also saves about a tenth of the CPU a
proxied request costs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

__all__ = ["make_http_client"]

_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: ``set-cookie`` from an upstream is ignored."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def make_http_client(
    *, timeout: float, connect_timeout: float = 10.0, env: Mapping[str, str] | None = None
) -> httpx.AsyncClient:
    """A client for one provider: ``timeout`` seconds between bytes read, ``connect_timeout`` to connect."""
    env = os.environ if env is None else env
    timeouts = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
    if env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") == "httpx":
        client = httpx.AsyncClient(timeout=timeouts, limits=_LIMITS, trust_env=True)
    else:
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=_LIMITS), timeout=timeouts, trust_env=True)
    client._cookies = _NoCookies()  # httpx has no switch for this; its setter would copy into a plain jar
    return client
