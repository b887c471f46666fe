"""One :class:`LocalProvider` with both models loaded, shared by the module's tests.

The provider keeps no event-loop state between calls (its executors are plain threads), so it
is built and started once and used from each test's own loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from hexgate_local import LocalProvider


@pytest.fixture(scope="session")
def provider() -> Iterator[LocalProvider]:
    async def build() -> tuple[LocalProvider, httpx.AsyncClient]:
        http = httpx.AsyncClient()
        p = LocalProvider({}, http=http)
        await p.start()
        return p, http

    p, http = asyncio.run(build())
    yield p

    async def close() -> None:
        await p.aclose()
        await http.aclose()

    asyncio.run(close())
