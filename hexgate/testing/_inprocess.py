"""In-process seams: a provider against a scripted transport (:func:`mock_client`), the gateway
as an ASGI app with its lifespan run (:func:`inprocess_gateway`), no socket and no subprocess."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from hexgate.settings import Settings

__all__ = [
    "INPROCESS_BASE_URL",
    "MockHandler",
    "inprocess_client",
    "inprocess_gateway",
    "mock_client",
    "settings_from_toml",
]

INPROCESS_BASE_URL = "http://127.0.0.1"
"""The base URL :func:`inprocess_gateway`'s client sends to (the OpenAI base URL is this + ``/v1``)."""

MockHandler = (
    Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)
"""What :func:`mock_client` calls for each request: sync, or an ``async def``."""


def mock_client(
    handler: MockHandler, *, base_url: str = "", timeout: float | httpx.Timeout = 10.0
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every request goes to ``handler`` (sync or async, an
    ``httpx.Request`` in, an ``httpx.Response`` out) instead of the network (``httpx.MockTransport``).

    Give it to a provider as the ``http`` client the core would own, and test the provider
    in-process::

        def upstream(request: httpx.Request) -> httpx.Response:
            assert request.url.path == "/v1/chat/completions"
            return httpx.Response(200, json={...})

        async with mock_client(upstream) as http:
            provider = MyProvider({"api_key": "k"}, http=http)
            reply = await provider.chat(request, ctx)

    An exception ``handler`` raises reaches the provider as that exception (raise
    ``httpx.ConnectError(...)`` or ``httpx.ReadTimeout(...)`` to test the transport-error mapping).
    Close the client (``async with`` or ``aclose()``) when done.
    """
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=base_url, timeout=timeout)


def settings_from_toml(config: str | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """:class:`~hexgate.settings.Settings` from TOML text as ``hexgate serve --config`` reads it
    (None: the defaults, the embedded ``local`` provider alone). ``${VAR}`` references are filled
    from ``env`` over ``os.environ``. Raises :class:`~hexgate.settings.ConfigError`."""
    from hexgate.settings import load_settings

    full_env = {**os.environ, **(env or {})}
    if config is None:
        return load_settings(None, env=full_env)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config, encoding="utf-8")
        return load_settings(path, env=full_env)


@contextlib.asynccontextmanager
async def inprocess_gateway(
    config: str | Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway for ``config`` (TOML text as :func:`settings_from_toml` reads it, or built
    ``Settings``) run inside this event loop: its lifespan (providers, their clients, the response
    store) runs on entry and on exit; yields an ``httpx.AsyncClient`` on ``httpx.ASGITransport``
    with base URL :data:`INPROCESS_BASE_URL`. The official clients take it as ``http_client``::

        async with inprocess_gateway(config) as http:
            client = openai.AsyncOpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="k", http_client=http)
            reply = await client.chat.completions.create(...)

    What it does not show (use :func:`~hexgate.testing.running_gateway` for those): the ASGI
    transport hands a response over once it is complete, so stream pacing and client disconnects
    mid-stream are not visible; ``hexgate serve``'s own start-up (CLI, config file, signals) is not
    run; ``env`` fills ``${VAR}`` in the config only (plugins reading ``os.environ`` see this process's).
    Raises :class:`~hexgate.settings.ConfigError` for a bad config, and whatever the lifespan raises
    (a plugin that fails to start).
    """
    from hexgate.app import create_app
    from hexgate.settings import Settings

    settings = config if isinstance(config, Settings) else settings_from_toml(config, env=env)
    app = create_app(settings)
    async with app.lifespan():
        # httpx types the ASGI callable with plain dicts, Litestar with its TypedDict events: the same protocol
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=INPROCESS_BASE_URL, timeout=30.0) as client:
            yield client


@contextlib.contextmanager
def inprocess_client(
    config: str | Settings | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[httpx.Client]:
    """:func:`inprocess_gateway` for synchronous tests: the app runs in a background event loop
    (Litestar's ``TestClient``, lifespan run on entry and exit) behind an ``httpx.Client`` with
    base URL :data:`INPROCESS_BASE_URL`; the sync ``openai.OpenAI`` takes it as ``http_client``.
    Same limits and errors as :func:`inprocess_gateway`.
    """
    from litestar.testing import TestClient

    from hexgate.app import create_app
    from hexgate.settings import Settings

    settings = config if isinstance(config, Settings) else settings_from_toml(config, env=env)
    with TestClient(create_app(settings), base_url=INPROCESS_BASE_URL, timeout=30.0) as client:
        yield client
