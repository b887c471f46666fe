"""The upstream HTTP clients the core creates, hands to providers and closes.

Default transport: ``httpx_aiohttp.AiohttpTransport``, an ``httpx.AsyncClient`` on
aiohttp's connection pool, which costs about a quarter of httpx's own transport
in CPU per proxied request (../shared/bench/README.md: 791 vs 3,446 µs at 32
connections). Its limits: HTTP/1.1 only, and a connection reset mid-response
surfaces as ``httpx.ConnectTimeout``, so a ``ConnectTimeout`` never proves that
nothing was sent. ``HEXGATE_HTTP_TRANSPORT=httpx`` switches back to httpx's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

__all__ = ["make_http_client"]

_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)


def make_http_client(
    *, timeout: float, connect_timeout: float = 10.0, env: Mapping[str, str] | None = None
) -> httpx.AsyncClient:
    """A client for one provider: ``timeout`` seconds between bytes read, ``connect_timeout`` to connect."""
    env = os.environ if env is None else env
    timeouts = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
    if env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") == "httpx":
        return httpx.AsyncClient(timeout=timeouts, limits=_LIMITS, trust_env=True)
    from httpx_aiohttp import AiohttpTransport

    return httpx.AsyncClient(transport=AiohttpTransport(limits=_LIMITS), timeout=timeouts, trust_env=True)
