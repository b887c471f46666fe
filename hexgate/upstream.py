"""The shape of an upstream answer as plugins read it: :class:`UpstreamResponse`.

Two kinds of object have it: ``httpx.Response`` (any client a plugin is given, mock clients in
tests) and :class:`hexgate.clients.DirectResponse` (the core's direct aiohttp lane, which skips the
httpx layer for a plain direct connection). Code that reads an answer (:mod:`hexgate.native`, a
plugin's own ``open``) types it with this Protocol so it takes either. A leaf module: the core's
client module and the plugin toolkit both import it without importing each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

__all__ = ["UpstreamResponse"]


class UpstreamResponse(Protocol):
    """The subset of ``httpx.Response`` an upstream answer offers: the status, the headers (a
    case-insensitive mapping), the body read whole or piece by piece, and closing."""

    @property
    def status_code(self) -> int: ...

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive ``.get`` (``httpx.Headers``, aiohttp's ``CIMultiDictProxy``)."""
        ...

    async def aread(self) -> bytes:
        """The whole (decoded) body; raises an ``httpx.TransportError`` subclass if the connection fails."""
        ...

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The (decoded) body in pieces as they arrive; raises as :meth:`aread`."""
        ...

    async def aclose(self) -> None:
        """Release the connection (closing it when the body was not read to the end)."""
        ...
