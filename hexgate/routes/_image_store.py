"""A small in-memory, expiring store for generated images served by link (``response_format: "url"``).

Bounded three ways: a lifetime per image (an hour by default, as OpenAI's image links), a
count and a total size; the oldest images go first when a new one needs room. Names are
unguessable (192 random bits), so a link works without the gateway key, like OpenAI's
signed links. One store per gateway process: with several workers a link is served only
by the worker that made it.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["ImageStore", "StoredImage", "sniff_media_type"]

_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


def sniff_media_type(data: bytes) -> tuple[str, str]:
    """``(media type, file extension)`` of an image from its first bytes; ``application/octet-stream``
    and ``bin`` when it is none of PNG, JPEG, GIF, WebP or SVG."""
    for magic, media_type, ext in _SIGNATURES:
        if data.startswith(magic):
            return media_type, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    head = data[:256].lstrip()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:1024]):
        return "image/svg+xml", "svg"
    return "application/octet-stream", "bin"


class StoredImage(NamedTuple):
    data: bytes
    media_type: str
    expires: float
    """On the store's clock (``time.monotonic`` unless another was given)."""


class ImageStore:
    """``put`` an image, get back a file name; ``get`` it by that name until it expires or is evicted."""

    def __init__(
        self,
        *,
        max_files: int = 128,
        max_bytes: int = 64 * 1024 * 1024,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._items: OrderedDict[str, StoredImage] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._items)

    @property
    def total_bytes(self) -> int:
        """Bytes held now (expired images are dropped first)."""
        self._expire(self._clock())
        return self._bytes

    def put(self, data: bytes) -> str | None:
        """Keep ``data`` and return its name (``img_<random>.<ext>``), evicting the oldest images to
        stay within the bounds; None when ``data`` alone is larger than ``max_bytes``."""
        if len(data) > self.max_bytes or self.max_files < 1:
            return None
        now = self._clock()
        self._expire(now)
        while self._items and (len(self._items) >= self.max_files or self._bytes + len(data) > self.max_bytes):
            self._drop_oldest()
        media_type, ext = sniff_media_type(data)
        name = f"img_{secrets.token_urlsafe(24)}.{ext}"
        self._items[name] = StoredImage(data, media_type, now + self.ttl)
        self._bytes += len(data)
        return name

    def get(self, name: str) -> StoredImage | None:
        """The image stored as ``name``, or None when unknown, expired or evicted."""
        self._expire(self._clock())
        return self._items.get(name)

    def seconds_left(self, image: StoredImage) -> float:
        return max(0.0, image.expires - self._clock())

    def _expire(self, now: float) -> None:
        # Every image lives ``ttl`` seconds, so insertion order is expiry order.
        while self._items:
            first = next(iter(self._items.values()))
            if first.expires > now:
                break
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, image = self._items.popitem(last=False)
        self._bytes -= len(image.data)
