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

The direct lane: the simple and by far most common case (a direct connection, no proxy of any
kind, no key pool, the aiohttp transport) can skip the httpx layer, which costs about half the CPU
of a proxied request (~190 of 382 µs at 32 connections). The :class:`UpstreamClient` handed to such a
provider offers :meth:`UpstreamClient.open_direct`, which sends on the same aiohttp session and
connection pool as its httpx transport with the same rules (no cookies, no redirects, the same
timeouts and exception types as ``httpx_aiohttp``, the attempt's :data:`CONNECT_TIMEOUT`) and
returns a :class:`DirectResponse`; plugins reach it through :func:`hexgate.plugin_kit.send`.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx
from aiohttp.compression_utils import HAS_BROTLI, HAS_ZSTD
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from hexgate.keypool import KeyPool

__all__ = [
    "CONNECT_TIMEOUT",
    "PROXY_SCHEMES",
    "DirectResponse",
    "UpstreamClient",
    "UpstreamClients",
    "apply_connect_timeout",
    "check_proxy",
    "make_http_client",
    "redact",
]

_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=60)

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")

CONNECT_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar("hexgate_connect_timeout", default=None)
"""Seconds to connect for the upstream requests made in this context (set per attempt by
:mod:`hexgate.resilience`); applied to every provider's HTTP client by the request hook
:func:`apply_connect_timeout` (the registry installs it), and by the direct lane itself."""

_ACCEPT_ENCODING = ", ".join(["gzip", "deflate", *(["br"] if HAS_BROTLI else []), *(["zstd"] if HAS_ZSTD else [])])
"""What the direct lane accepts: the encodings aiohttp decodes here (httpx's list, when the same
libraries are installed)."""


async def apply_connect_timeout(request: httpx.Request) -> None:
    """httpx request hook: the attempt's connect timeout (:data:`CONNECT_TIMEOUT`, seconds), as the
    ``connect`` and ``pool`` timeouts, over whatever the plugin or its SDK asked for."""
    seconds = CONNECT_TIMEOUT.get()
    if seconds is not None:
        timeout = dict(request.extensions.get("timeout") or {})
        timeout["connect"] = timeout["pool"] = seconds
        request.extensions["timeout"] = timeout


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


def _transport(proxy: str | None, *, on_aiohttp: bool) -> httpx.AsyncBaseTransport:
    """One connection pool, direct or through ``proxy``; TLS verification honours ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` (``trust_env`` here touches only the TLS context: proxies are explicit)."""
    if not on_aiohttp:
        return httpx.AsyncHTTPTransport(limits=_LIMITS, proxy=proxy, trust_env=True)
    if proxy is None or not proxy.startswith("socks"):
        spec = _aiohttp_proxy(proxy) if proxy else None
        transport = AiohttpTransport(limits=_LIMITS, proxy=spec, trust_env=True)
        transport.client = functools.partial(_session, transport)
        auth = spec.headers.get("proxy-authorization") if spec is not None else None
        return _PlainProxyAuth(transport, auth) if auth else transport
    from aiohttp_socks import ProxyConnector, ProxyType

    parts = urllib.parse.urlsplit(proxy)

    def session() -> aiohttp.ClientSession:  # called on first use, inside the event loop
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
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(limits=_LIMITS, client=session, trust_env=True)


def _session(transport: AiohttpTransport) -> aiohttp.ClientSession:
    """The session ``httpx_aiohttp`` would make for ``transport`` (same connector settings; it calls
    this on first use, inside the event loop), without a cookie jar: aiohttp's own jar would keep
    an upstream's ``set-cookie`` for host names (not for IP addresses) and send it to every caller."""
    connector = aiohttp.TCPConnector(
        keepalive_timeout=transport.limits.keepalive_expiry,
        ssl=transport.ssl_context,
        limit=transport.limits.max_connections or 0,
    )
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


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

    def __init__(self, env: dict[str, str], *, on_aiohttp: bool) -> None:
        self._env = env
        self._aiohttp = on_aiohttp
        self._no = [e.strip().lower() for e in env.get("no", "").split(",") if e.strip()]
        self._pools: dict[str | None, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        proxy = self._env.get(url.scheme) or self._env.get("all")
        if proxy and self._no and _bypass(url.host.lower(), url.port, self._no):
            proxy = None
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = _transport(proxy, on_aiohttp=self._aiohttp)
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


class DirectResponse:
    """An upstream answer on the direct lane (:meth:`UpstreamClient.open_direct`): the part of
    ``httpx.Response`` plugins read (:class:`hexgate.upstream.UpstreamResponse`), over an aiohttp
    response. The body is decoded (gzip, deflate, br as offered); read failures raise the
    ``httpx`` exception ``httpx_aiohttp`` raises for the same aiohttp failure."""

    __slots__ = ("_body", "_response", "headers", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._body: bytes | None = None
        self.status_code: int = response.status
        self.headers: Mapping[str, str] = response.headers
        """Case-insensitive (aiohttp's ``CIMultiDictProxy``)."""

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300

    async def aread(self) -> bytes:
        """The whole body (kept: a second call returns it again)."""
        if self._body is None:
            with map_aiohttp_exceptions():
                self._body = await self._response.read()
        return self._body

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body in pieces as aiohttp receives them (``content.iter_any()``: a server-sent event
        is passed on when it arrives, not held until some size is reached)."""
        if self._body is not None:
            if self._body:
                yield self._body
            return
        with map_aiohttp_exceptions():
            async for piece in self._response.content.iter_any():
                yield piece

    async def aclose(self) -> None:
        """Give the connection back to the pool when the body was read to the end, else close it
        (aiohttp's ``release()``: the upstream sees an abandoned answer as a closed connection)."""
        with map_aiohttp_exceptions():
            self._response.release()
            await self._response.wait_for_close()


class UpstreamClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` the core hands a provider: it keeps no cookies and, for a direct
    connection on the aiohttp transport, offers the direct lane :meth:`open_direct`."""

    def __init__(
        self, transport: httpx.AsyncBaseTransport, *, timeout: httpx.Timeout, direct: AiohttpTransport | None = None
    ) -> None:
        super().__init__(transport=transport, timeout=timeout, limits=_LIMITS, trust_env=False)
        self._cookies = _NoCookies()  # httpx has no switch for this; its setter would copy into a plain jar
        self._direct = direct
        self.direct_sends = 0
        """Requests sent on the direct lane (tests and diagnostics read it)."""

    async def open_direct(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        timeouts: httpx.Timeout | None = None,
        stream: bool = True,
    ) -> DirectResponse | None:
        """Send one request on the direct lane, or None when the lane does not apply (then send it
        with httpx as usual): not a direct aiohttp client, the client closed, an ``auth`` or
        ``params`` set on it, a relative ``url``, or event hooks other than the registry's
        :func:`apply_connect_timeout`.

        ``url`` absolute; ``headers`` over the client's own (names in any case; no cookies, ever);
        ``content`` the body; ``timeouts`` in seconds per phase (None: the client's), mapped as
        ``httpx_aiohttp`` maps it (``connect`` → ``sock_connect``, ``read`` → ``sock_read``,
        ``pool`` → aiohttp's ``connect``, which covers waiting for a pooled connection), with
        :data:`CONNECT_TIMEOUT` over ``connect`` and ``pool`` when the registry's hook is installed.
        ``stream`` False reads the body before returning. Redirects are not followed.

        Returns the response (close it: :meth:`DirectResponse.aclose`). Raises the ``httpx``
        exception ``httpx_aiohttp`` raises for the same aiohttp failure (``ConnectError``,
        ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``…), and ``httpx.ProxyError`` for a 407, as
        the httpx path does.
        """
        pool = self._direct
        if pool is None or self.is_closed or self._auth is not None or self._params:
            return None
        hooks = self._event_hooks
        if hooks["response"]:
            return None
        connect_hook = False
        for hook in hooks["request"]:
            if hook is not apply_connect_timeout:
                return None
            connect_hook = True
        if not url.startswith(("http://", "https://")):
            return None
        sent = dict(self._headers.items())  # lower-case names
        sent["accept-encoding"] = _ACCEPT_ENCODING
        for name, value in headers.items():
            sent[name.lower()] = value
        phases = timeouts if timeouts is not None else self.timeout
        connect, wait = phases.connect, phases.pool
        if connect_hook:
            seconds = CONNECT_TIMEOUT.get()
            if seconds is not None:
                connect = wait = seconds
        session = pool.client
        if not isinstance(session, aiohttp.ClientSession):
            session = pool.client = pool.get_client()
        self.direct_sends += 1
        with map_aiohttp_exceptions():
            raw = await session.request(
                method,
                url,
                headers=sent,
                data=content or None,
                allow_redirects=False,
                # httpx_aiohttp passes False because httpx then decodes; here nothing else would
                auto_decompress=True,
                timeout=aiohttp.ClientTimeout(sock_connect=connect, sock_read=phases.read, connect=wait),
            )
        response = DirectResponse(raw)
        if response.status_code == 407:  # as _ProviderTransport: the gateway's config, not the client's
            await response.aclose()
            raise httpx.ProxyError("the upstream proxy refused the gateway's credentials (407)")
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response


class UpstreamClients:
    """The core's upstream connection pools, one per distinct proxy (None: direct or by the
    environment), and a light ``httpx.AsyncClient`` per provider over them. Built once at start,
    closed by :meth:`aclose`."""

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._aiohttp = env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") != "httpx"
        self._env = _env_proxies(env)
        self._pools: dict[str | None, httpx.AsyncBaseTransport] = {}
        self._clients: list[UpstreamClient] = []
        self._env_routed: _EnvRouted | None = None

    def pool(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        """The shared connection pool through ``proxy`` (None: direct)."""
        pool = self._pools.get(proxy)
        if pool is None:
            pool = self._pools[proxy] = _transport(proxy, on_aiohttp=self._aiohttp)
        return pool

    def client(
        self,
        *,
        timeout: float,
        connect_timeout: float = 10.0,
        proxy: str | None = None,
        keys: KeyPool | None = None,
    ) -> UpstreamClient:
        """A client for one provider: ``timeout`` seconds between bytes read, ``connect_timeout`` to
        connect; through ``proxy`` (checked with :func:`check_proxy`; None: the environment's, if
        any); ``keys`` swapped in for their placeholder. With none of the three, on the aiohttp
        transport, it offers the direct lane (:meth:`UpstreamClient.open_direct`) on the same
        connection pool. Raises ValueError for a bad proxy URL."""
        secrets: tuple[str, ...] = keys.secrets if keys is not None else ()
        inner: httpx.AsyncBaseTransport
        direct: AiohttpTransport | None = None
        if proxy is not None:
            inner = self.pool(check_proxy(proxy))
            secrets += _secrets_of(proxy)
        elif {"http", "https", "all"} & set(self._env):
            secrets += _env_secrets(self._env)
            if self._env_routed is None:
                self._env_routed = _EnvRouted(self._env, on_aiohttp=self._aiohttp)
            inner = self._env_routed
        else:
            inner = self.pool(None)
            if keys is None and isinstance(inner, AiohttpTransport):  # direct, not a proxy's pool
                direct = inner
        client = _client(
            _ProviderTransport(inner, keys, secrets), timeout=timeout, connect_timeout=connect_timeout, direct=direct
        )
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


def _client(
    transport: httpx.AsyncBaseTransport,
    *,
    timeout: float,
    connect_timeout: float,
    direct: AiohttpTransport | None = None,
) -> UpstreamClient:
    timeouts = httpx.Timeout(timeout, connect=connect_timeout, pool=connect_timeout)
    return UpstreamClient(transport, timeout=timeouts, direct=direct)


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
    on_aiohttp = env.get("HEXGATE_HTTP_TRANSPORT", "aiohttp") != "httpx"
    from_env = _env_proxies(env)
    transport: httpx.AsyncBaseTransport
    if proxy is None and {"http", "https", "all"} & set(from_env):
        transport = _ProviderTransport(
            _EnvRouted(from_env, on_aiohttp=on_aiohttp), None, _env_secrets(from_env), owns=True
        )
    else:
        transport = _transport(check_proxy(proxy) if proxy else None, on_aiohttp=on_aiohttp)
        if proxy:
            transport = _ProviderTransport(transport, None, _secrets_of(proxy), owns=True)
    return _client(transport, timeout=timeout, connect_timeout=connect_timeout)
