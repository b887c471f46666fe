"""The upstream HTTP client the core hands to providers keeps no cookies between callers."""

from __future__ import annotations

import httpx
import pytest

from hexgate.clients import make_http_client
from hexgate.testing import Reply, StubUpstream


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # aiohttp's own jar keeps host names' cookies only
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_upstream_cookies_are_not_carried_to_the_next_caller(transport: str, host: str) -> None:
    routes = {
        "GET /login": Reply(body=b"{}", headers={"content-type": "application/json", "set-cookie": "session=alice"}),
        "GET /next": Reply(body=b"{}"),
    }
    with StubUpstream(routes) as stub:
        client = make_http_client(timeout=5, env={"HEXGATE_HTTP_TRANSPORT": transport})
        base = stub.url.replace("127.0.0.1", host)
        try:
            assert (await client.get(f"{base}/login")).status_code == 200
            assert (await client.get(f"{base}/next")).status_code == 200
        finally:
            await client.aclose()
    assert "cookie" not in stub.requests[-1].headers
    assert len(client.cookies) == 0


def test_transport_switch() -> None:
    client = make_http_client(timeout=5, env={"HEXGATE_HTTP_TRANSPORT": "httpx"})
    assert isinstance(client._transport, httpx.AsyncHTTPTransport)
