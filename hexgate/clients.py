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

Proxies: each provider's ``proxy`` (or ``[server] upstream_proxy``) is an ``http://``, ``https://``,
``socks5://`` (names resolved here) or ``socks5h://`` (names resolved by the proxy) URL, credentials
allowed. With none set, ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` (either case) and ``NO_PROXY``
are honoured per request, as curl and httpx read them. :class:`UpstreamClients` keeps one connection
pool per distinct proxy, shared by the providers that use it, and closes them all; aiohttp reaches
SOCKS proxies through ``aiohttp_socks.ProxyConnector``, httpx's own transport through ``socksio``.
A proxy's credentials (and a key pool's keys) are scrubbed from every error message the clients
raise and never logged: :func:`redact` shows a proxy URL as ``scheme://***@host:port``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import urllib.parse
from collections.abc import Mapping

import httpx

from hexgate.keypool import KeyPool

__all__ = ["PROXY_SCHEMES", "UpstreamClients", "check_proxy", "make_http_client", "redact"]

_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class _NoCookies(httpx.Cookies):
    """A jar that stays empty: ``set-cookie`` from an upstream is ignored."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def redact(url: str) -> str:
    """``scheme://user:pass@host:port`` → ``scheme://***@host:port``; other URLs unchanged."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def check_proxy(url: str) -> str:
    """``url`` if it is a usable proxy URL; raises ValueError naming the accepted schemes (the URL
    in the message redacted)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError(f"proxy {redact(url)!r} must be {', '.join(s + '://host:port' for s in PROXY_SCHEMES)}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"proxy {redact(url)!r} has an invalid port") from None
    return url


class _Redact(logging.Filter):
    """Scrubs proxy credentials from records of loggers that print them (httpcore's SOCKS trace logs
    the ``(user, password)`` tuple at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(secret in text for secret in self.secrets):
                for secret in self.secrets:
                    text = text.replace(secret, "***")
                record.msg, record.args = text, None
        return True


_REDACT = _Redact()
for _name in ("httpcore.socks", "httpcore.proxy", "httpcore.connection"):
    logging.getLogger(_name).addFilter(_REDACT)


def _secrets_of(url: str) -> tuple[str, ...]:
    """A proxy URL's credentials (as written and unquoted), also handed to the log filter."""
    parts = urllib.parse.urlsplit(url)
    found = [s for s in (parts.password, parts.username) if s]
    secrets = tuple(found + [urllib.parse.unquote(s) for s in found])
    _REDACT.secrets.update(s for s in secrets if len(s) >= 3)
    return secrets


def _env_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``{"http": url, "https": url, "all": url, "no": hosts}`` from the environment, lower case first."""
    out: dict[str, str] = {}
    for name in ("http", "https", "all", "no"):
        value = env.get(f"{name}_proxy") or env.get(f"{name.upper()}_PROXY")
        if value:
            out[name] = value.strip()
    return out


def _transport(proxy: str | None, *, aiohttp: bool) -> httpx.AsyncBaseTransport:
    """One connection pool, direct or through ``proxy``; TLS verification honours ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` (``trust_env`` here touches only the TLS context: proxies are explicit)."""
    if not aiohttp:
        return httpx.AsyncHTTPTransport(limits=_LIMITS, proxy=proxy, trust_env=True)
    from httpx_aiohttp import AiohttpTransport

    if proxy is None or not proxy.startswith("socks"):
        spec = _aiohttp_proxy(proxy) if proxy else None
        transport = AiohttpTransport(limits=_LIMITS, proxy=spec, trust_env=True)
        auth = spec.headers.get("proxy-authorization") if spec is not None else None
        return _PlainProxyAuth(transport, auth) if auth else transport
    import aiohttp as _aiohttp
    from aiohttp_socks import ProxyConnector, ProxyType

    parts = urllib.parse.urlsplit(proxy)

    def session() -> _aiohttp.ClientSession:  # called on first use, inside the event loop
        connector = ProxyConnector(
            host=parts.hostname or "",
            port=parts.port or 1080,
            proxy_type=ProxyType.SOCKS5,
            username=urllib.parse.unquote(parts.username) if parts.username else None,
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            rdns=parts.scheme == "socks5h",
            ssl=httpx.create_ssl_context(trust_env=True),
            limit=_LIMITS.max_connections or 0,
            keepalive_timeout=_LIMITS.keepalive_expiry,
        )
        return _aiohttp.ClientSession(connector=connector)

    return AiohttpTransport(limits=_LIMITS, client=session, trust_env=True)


def _aiohttp_proxy(url: str) -> httpx.Proxy:
    """An HTTP(S) proxy for httpx_aiohttp with its credentials as a ``Proxy-Authorization`` header
    (httpx_aiohttp would build aiohttp's deprecated ``BasicAuth`` from them)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return httpx.Proxy(url)
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return httpx.Proxy(bare, headers={"proxy-authorization": f"Basic {token}"})


class _PlainProxyAuth(httpx.AsyncBaseTransport):
    """aiohttp sends ``proxy_headers`` only on a ``CONNECT``; a plain ``http://`` request forwarded
    by the proxy carries ``Proxy-Authorization`` in its own headers instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport, auth: str) -> None:
        self._inner = inner
        self._auth = auth

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            request.headers["proxy-authorization"] = self._auth
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _EnvRouted(httpx.AsyncBaseTransport):
    """Picks, per request, the pool for the environment's proxy of the URL's scheme, or a direct
    one for a host ``NO_PROXY`` names; owns those pools."""

    def __init__(self, env: dict[str, str], *, aiohttp: bool) -> None:
        self._env = env
        self._aiohttp = aiohttp
        self._no = [e.strip().lower() for e in env.get("no", "").split(",") if e.strip()]
        self._pools: dict[str | None, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        proxy = self._env.get(url.scheme) or self._env.get("all")
        if proxy and self._no and _bypass(url.host.lower(), url.port, self._no):
            proxy = None
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = _transport(proxy, aiohttp=self._aiohttp)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


def _bypass(host: str, port: int | None, entries: list[str]) -> bool:
    """Does ``NO_PROXY`` name this host? Entries (as curl reads them): ``*``; a host or domain
    (``example.com`` and ``.example.com`` match it and its subdomains); either with ``:port``."""
    for entry in entries:
        if entry == "*":
            return True
        name, _, want = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want and (not want.isdigit() or int(want) != port):
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _env_secrets(env: dict[str, str]) -> tuple[str, ...]:
    """Check the environment's proxy URLs (ValueError for a bad one); their credentials."""
    found: tuple[str, ...] = ()
    for name in ("http", "https", "all"):
        if name in env:
            check_proxy(env[name])
            found += _secrets_of(env[name])
    return found


class _ProviderTransport(httpx.AsyncBaseTransport):
    """A provider's view of a shared pool: swaps in pool keys, scrubs secrets from errors, and
    leaves closing the shared pool to :class:`UpstreamClients`."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, keys: KeyPool | None, secrets: tuple[str, ...], *, owns: bool = False
    ) -> None:
        self._inner = inner
        self._owns = owns
        self._keys = keys
        self._secrets = tuple(s for s in secrets if len(s) >= 3)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            if self._keys is not None:
                response = await self._keys.send(self._inner, request)
            else:
                response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            text = self._scrub(str(exc))
            if text != str(exc):
                raise type(exc)(text, request=request) from None
            raise
        except Exception as exc:
            if not type(exc).__module__.startswith(("python_socks", "aiohttp_socks")):
                raise
            # a SOCKS failure (refused, bad credentials, unreachable) as httpx says it
            raise httpx.ProxyError(f"SOCKS proxy: {self._scrub(str(exc))}", request=request) from None
        if response.status_code == 407:  # a forwarding proxy's refusal is the gateway's config, not the client's
            await response.aclose()
            raise httpx.ProxyError("the upstream proxy refused the gateway's credentials (407)", request=request)
        return response

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def aclose(self) -> None:
        if self._owns:
            await self._inner.aclose()


class UpstreamClients:
    """The core's upstream connection pools, one per distinct proxy (None: direct or by the
    environment), and a light ``httpx.AsyncClient`` per provider over them. Built once at start,
    closed by :meth:`aclose`."""

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._aiohttp = env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") != "httpx"
        self._env = _env_proxies(env)
        self._pools: dict[str | None, httpx.AsyncBaseTransport] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._env_routed: _EnvRouted | None = None

    def pool(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        """The shared connection pool through ``proxy`` (None: direct)."""
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = _transport(proxy, aiohttp=self._aiohttp)
        return pool

    def client(
        self,
        *,
        timeout: float,
        connect_timeout: float = 10.0,
        proxy: str | None = None,
        keys: KeyPool | None = None,
    ) -> httpx.AsyncClient:
        """A client for one provider: ``timeout`` seconds between bytes read, ``connect_timeout`` to
        connect; through ``proxy`` (checked with :func:`check_proxy`; None: the environment's, if
        any); ``keys`` swapped in for their placeholder. Raises ValueError for a bad proxy URL."""
        secrets: tuple[str, ...] = keys.secrets if keys is not None else ()
        inner: httpx.AsyncBaseTransport
        if proxy is not None:
            inner = self.pool(check_proxy(proxy))
            secrets += _secrets_of(proxy)
        elif {"http", "https", "all"} & set(self._env):
            secrets += _env_secrets(self._env)
            if self._env_routed is None:
                self._env_routed = _EnvRouted(self._env, aiohttp=self._aiohttp)
            inner = self._env_routed
        else:
            inner = self.pool(None)
        client = _client(_ProviderTransport(inner, keys, secrets), timeout=timeout, connect_timeout=connect_timeout)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        """Close every provider's client, then every shared pool."""
        for client in self._clients:
            await client.aclose()
        for pool in self._pools.values():
            with contextlib.suppress(Exception):  # shutdown goes on
                await pool.aclose()
        if self._env_routed is not None:
            await self._env_routed.aclose()
        self._pools.clear()
        self._clients.clear()


def _client(transport: httpx.AsyncBaseTransport, *, timeout: float, connect_timeout: float) -> httpx.AsyncClient:
    timeouts = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
    client = httpx.AsyncClient(transport=transport, timeout=timeouts, limits=_LIMITS, trust_env=False)
    client._cookies = _NoCookies()  # httpx has no switch for this; its setter would copy into a plain jar
    return client


def make_http_client(
    *,
    timeout: float,
    connect_timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    proxy: str | None = None,
) -> httpx.AsyncClient:
    """A standalone client that owns its connection pool (for tests and tools; the gateway uses
    :class:`UpstreamClients`): ``timeout`` seconds between bytes read, ``connect_timeout`` to connect,
    through ``proxy`` (None: the environment's proxies, when set)."""
    env = os.environ if env is None else env
    aiohttp = env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") != "httpx"
    from_env = _env_proxies(env)
    transport: httpx.AsyncBaseTransport
    if proxy is None and {"http", "https", "all"} & set(from_env):
        transport = _ProviderTransport(_EnvRouted(from_env, aiohttp=aiohttp), None, _env_secrets(from_env), owns=True)
    else:
        transport = _transport(check_proxy(proxy) if proxy else None, aiohttp=aiohttp)
        if proxy:
            transport = _ProviderTransport(transport, None, _secrets_of(proxy), owns=True)
    return _client(transport, timeout=timeout, connect_timeout=connect_timeout)
