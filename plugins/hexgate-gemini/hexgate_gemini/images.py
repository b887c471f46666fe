"""Fetching http(s) image URLs for Gemini, which takes images only inline or from its own storage.

Every fetch goes through the client the core handed in, with a size limit (checked on
``content-length`` and again while reading) and at most three redirects, followed here one by one.
Unless the settings allow private hosts (``image_fetch_private``), each hop's host is resolved once,
refused when any of its addresses is loopback, private, link-local, multicast or otherwise not
global (an IPv4-mapped IPv6 address counts as its IPv4 one), and the request then connects to the
address that was checked: the URL carries that IP, while the ``Host`` header and the TLS server name
(httpcore's ``sni_hostname`` extension, which certificate verification also uses) keep the name. A
DNS answer that changes between the check and the connection (rebinding) therefore cannot lead the
gateway into its own network. Such requests ask for ``Connection: close``, so a connection opened for
one name is never reused for another name on the same address.

One request fetches at most ``image_max_count`` distinct URLs, ``image_fetch_concurrency`` at a time;
the first failure cancels the others (:class:`asyncio.TaskGroup`).
Failures are the client's to fix: :class:`hexgate.errors.InvalidRequest` (400).
"""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import socket
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import httpx

from hexgate.errors import InvalidRequest
from hexgate_gemini.translate import FetchedImage

__all__ = ["fetch_images"]

_MAX_REDIRECTS = 3


def _public(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _checked_address(url: httpx.URL) -> str:
    """The one address of ``url``'s host to connect to, resolved once; every address it resolves to
    must be public. Raises :class:`InvalidRequest` otherwise."""
    host = url.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # an IP literal: nothing to resolve
        if not _public(host):
            raise InvalidRequest(f"image URL host {host[:100]!r} is not a public address", param="messages")
        return host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidRequest(f"image URL host {host[:100]!r} does not resolve", param="messages") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(_public(a) for a in addresses):
        raise InvalidRequest(f"image URL host {host[:100]!r} is not a public address", param="messages")
    return addresses[0]


async def _request(http: httpx.AsyncClient, target: str, *, allow_private: bool) -> httpx.Request:
    try:
        url = httpx.URL(target)
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise InvalidRequest(f"image URL {target[:200]!r} is not an http(s) URL", param="messages")
    if allow_private:
        return http.build_request("GET", url)
    address = await _checked_address(url)
    return http.build_request(
        "GET",
        url.copy_with(host=address),
        headers={"host": url.netloc.decode("ascii"), "connection": "close"},
        extensions={"sni_hostname": url.raw_host.decode("ascii")},
    )


def _mime(response: httpx.Response, url: str) -> str:
    declared = str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    if declared.startswith("image/"):
        return declared
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    if guessed and guessed.startswith("image/"):
        return guessed
    raise InvalidRequest(
        f"image URL {url[:200]!r} answered {declared or 'no content type'}, not an image", param="messages"
    )


async def _fetch(http: httpx.AsyncClient, url: str, *, max_bytes: int, allow_private: bool) -> FetchedImage:
    target = url
    for _ in range(_MAX_REDIRECTS + 1):
        request = await _request(http, target, allow_private=allow_private)
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                if response.is_redirect and "location" in response.headers:
                    target = urljoin(target, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise InvalidRequest(
                        f"fetching image {url[:200]!r} failed with status {response.status_code}", param="messages"
                    )
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise InvalidRequest(f"image {url[:200]!r} is larger than {max_bytes} bytes", param="messages")
                buffer = bytearray()
                async for piece in response.aiter_bytes():
                    buffer += piece
                    if len(buffer) > max_bytes:
                        raise InvalidRequest(f"image {url[:200]!r} is larger than {max_bytes} bytes", param="messages")
                return FetchedImage(mime_type=_mime(response, target), data=bytes(buffer))
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise InvalidRequest(
                f"fetching image {url[:200]!r} failed: {type(exc).__name__}", param="messages"
            ) from None
    raise InvalidRequest(f"image {url[:200]!r} redirects more than {_MAX_REDIRECTS} times", param="messages")


async def fetch_images(
    http: httpx.AsyncClient,
    urls: Iterable[str],
    *,
    max_bytes: int,
    allow_private: bool,
    max_count: int = 16,
    concurrency: int = 4,
) -> dict[str, FetchedImage]:
    """Download every URL, ``concurrency`` at a time; ``{url: image}``.

    Raises :class:`InvalidRequest` for more than ``max_count`` URLs, or the first fetch that fails
    (the others are cancelled then).
    """
    wanted = list(dict.fromkeys(urls))
    if not wanted:
        return {}
    if len(wanted) > max_count:
        raise InvalidRequest(
            f"the messages link {len(wanted)} images by URL; this provider fetches at most {max_count} per request "
            "(image_max_count): send the others inline as data: URLs",
            param="messages",
        )
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(url: str) -> FetchedImage:
        async with slots:
            return await _fetch(http, url, max_bytes=max_bytes, allow_private=allow_private)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(url)) for url in wanted]
    except ExceptionGroup as failed:
        client_errors = [e for e in failed.exceptions if isinstance(e, InvalidRequest)]
        raise (client_errors or failed.exceptions)[0] from None
    return {url: task.result() for url, task in zip(wanted, tasks, strict=True)}
