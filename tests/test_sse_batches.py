"""``iter_sse_batches`` reads every stream as ``iter_sse`` does, however the bytes are split, and batches
the events by the read that completed them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from hexgate.sse import iter_sse, iter_sse_batches

pytestmark = pytest.mark.timeout(60)

STREAMS = [
    b'data: {"a":1}\n\ndata: {"b":2}\n\n: keep-alive\n\nevent: error\ndata: {"e":1}\n\n'
    b"data: x\ndata: y\n\n\n\ndata: [DONE]\n\n",
    b'data: {"a":1}\r\n\r\ndata: {"b":2}\r\n\r\n:c\r\n\r\nevent: e\r\ndata: z\r\n\r\n',
    b"data:nospace\n\ndata: a\ndata: b\n\n",
    b"data: last-without-blank",
    b"data: last-without-blank\r\n",
    b"event: only\n\ndata: q\n\n",
    b"\n\n\ndata: 1\n\n\n\n\ndata: 2\n\n",
    b"event: a\ndata: 1\n\ndata: 2\n\n",
    b"id: 5\ndata: 1\nretry: 3\n\ndata: 2\n\n",
]


async def pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("stream", STREAMS)
async def test_same_events_as_iter_sse_for_any_split(stream: bytes) -> None:
    want = [(e.event, e.data.encode()) async for e in iter_sse(pieces([stream]))]
    rng = random.Random(stream)
    for _ in range(300):
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(0, 8))))
        parts = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        got = [event async for batch in iter_sse_batches(pieces(parts)) for event in batch]
        assert got == want, parts


async def test_one_batch_per_read() -> None:
    reads = [b"data: 1\n\ndata: 2\n\nda", b"ta: 3\n\n", b": ping\n\n", b"data: 4\n\n"]
    batches = [batch async for batch in iter_sse_batches(pieces(reads))]
    assert batches == [[("message", b"1"), ("message", b"2")], [("message", b"3")], [("message", b"4")]]
