"""Fetching http(s) image URLs for Gemini, which takes images only inline or from its own storage.

Every fetch goes through the client the core handed in, with a size limit (checked on
``content-length`` and again while reading), at most three redirects, and, unless the
settings allow it, a refusal of hosts that resolve to loopback, private, link-local or
otherwise non-public addresses (a gateway must not become a way into its own network).
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


async def _check_host(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest(f"image URL {url[:200]!r} is not an http(s) URL", param="messages")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidRequest(f"image URL host {host!r} does not resolve", param="messages") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise InvalidRequest(f"image URL host {host!r} is not a public address", param="messages")


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
        if not allow_private:
            await _check_host(target)
        try:
            async with http.stream("GET", target, follow_redirects=False) as response:
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
        except httpx.HTTPError as exc:
            raise InvalidRequest(
                f"fetching image {url[:200]!r} failed: {type(exc).__name__}", param="messages"
            ) from None
    raise InvalidRequest(f"image {url[:200]!r} redirects more than {_MAX_REDIRECTS} times", param="messages")


async def fetch_images(
    http: httpx.AsyncClient, urls: Iterable[str], *, max_bytes: int, allow_private: bool
) -> dict[str, FetchedImage]:
    """Download every URL concurrently. Raises :class:`InvalidRequest` for the first that fails."""
    wanted = list(urls)
    if not wanted:
        return {}
    fetched = await asyncio.gather(*(_fetch(http, u, max_bytes=max_bytes, allow_private=allow_private) for u in wanted))
    return dict(zip(wanted, fetched, strict=True))
