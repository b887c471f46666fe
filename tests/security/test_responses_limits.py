"""Issue 12: bounds on what ``/v1/responses`` keeps and accepts.

- Finding 2 (last bullet): the memory response store is bounded in bytes, least recently used first,
  not only by its TTL.
- Finding 7: a Responses request obeys ``server.max_messages`` as chat does, its stored conversation
  (``previous_response_id``) included.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from msgspec import Raw

from hexgate.response_store import StoredResponse, open_store
from hexgate.testing import INPROCESS_BASE_URL, inprocess_client

KEY = "test-key-limits-0001"


def record(response_id: str, size: int, owner: str = "key:a") -> StoredResponse:
    body = f'{{"id":"{response_id}","pad":"{"x" * size}"}}'.encode()
    return StoredResponse(response=Raw(body), context=[], provider="echo", owner=owner)


async def test_memory_store_holds_at_most_its_byte_bound() -> None:
    store = open_store("memory", ttl=3600, max_bytes=100_000)
    for n in range(1000):  # ~10 MB offered
        await store.put(f"resp_{n}", record(f"resp_{n}", 10_000))
    kept = [n for n in range(1000) if await store.get(f"resp_{n}", owner="key:a") is not None]
    assert 0 < len(kept) <= 10
    assert kept == list(range(1000 - len(kept), 1000))  # the newest stay


async def test_memory_store_drops_the_least_recently_used() -> None:
    store = open_store("memory", ttl=3600, max_bytes=35_000)
    for n in range(3):
        await store.put(f"resp_{n}", record(f"resp_{n}", 10_000))
    assert await store.get("resp_0", owner="key:a") is not None  # read: now the most recent
    await store.put("resp_3", record("resp_3", 10_000))
    assert await store.get("resp_1", owner="key:a") is None
    assert await store.get("resp_0", owner="key:a") is not None


async def test_a_record_larger_than_the_store_is_refused() -> None:
    store = open_store("memory", ttl=3600, max_bytes=1_000)
    with pytest.raises(ValueError, match="response_store_max_bytes"):
        await store.put("resp_big", record("resp_big", 5_000))
    assert await store.get("resp_big", owner="key:a") is None


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    config = f"""
[server]
api_keys = ["{KEY}"]
max_messages = 3

[providers.echo]
plugin = "echo"
"""
    with inprocess_client(config) as http:
        yield openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key=KEY, max_retries=0, http_client=http)


def test_responses_input_obeys_max_messages(client: openai.OpenAI) -> None:
    items = [{"role": "user", "content": f"m{n}"} for n in range(4)]
    with pytest.raises(openai.BadRequestError) as got:
        client.responses.create(model="echo/echo", input=items)  # type: ignore[arg-type]
    assert got.value.param == "input" and "max_messages" in got.value.message
    assert client.responses.create(model="echo/echo", input=items[:3]).output_text  # type: ignore[arg-type]


def test_a_continued_conversation_counts_its_stored_items(client: openai.OpenAI) -> None:
    first = client.responses.create(model="echo/echo", input="one")  # 1 input + 1 output item kept
    second = client.responses.create(model="echo/echo", input="two", previous_response_id=first.id)  # 3
    with pytest.raises(openai.BadRequestError) as got:
        client.responses.create(model="echo/echo", input="three", previous_response_id=second.id)  # 5
    assert got.value.param == "input"
