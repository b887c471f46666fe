"""The console's back end without a browser: usage per hour and per day with filters, the live ring's
bounds, and the live feed over HTTP (the prompt only with ``[telemetry] log_prompts``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from hexgate.ops.live import LiveEntry, LiveFeed, TooManySubscribers
from hexgate.ops.state import MemoryBackend
from hexgate.ops.usage import UsageBook
from hexgate.testing import running_gateway

ADMIN = "console-admin-key-000"
NOON = datetime(2026, 3, 2, 12, 30, tzinfo=UTC).timestamp()


async def test_usage_series_per_hour_and_day_with_filters() -> None:
    book = UsageBook(MemoryBackend())
    for hours_ago, key, target, tokens in [
        (0, "key_a", "echo/echo", 10),
        (0, "key_a", "echo/echo", 5),
        (2, "key_b", "other/model-x", 7),
        (26, "key_a", "echo/echo", 3),  # the day before, 10:30
    ]:
        book.add(
            key_id=key,
            target=target,
            errors=0,
            input_tokens=tokens,
            output_tokens=1,
            cost_nanos=0,
            now=NOON - hours_ago * 3600,
        )
    today, yesterday = date(2026, 3, 2), date(2026, 3, 1)
    hourly = await book.report(since=yesterday, until=today, bucket="hour", now=NOON)
    assert hourly.bucket == "hour" and hourly.series is not None
    assert len(hourly.series) == 24 + 13  # all of yesterday, today up to the current hour (12:00)
    by_start = {b.start: b for b in hourly.series}
    at = lambda h: int(datetime(2026, 3, 2, h, tzinfo=UTC).timestamp())  # noqa: E731
    assert by_start[at(12)].input_tokens == 15 and by_start[at(12)].requests == 2
    assert by_start[at(10)].input_tokens == 7
    assert by_start[int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp())].input_tokens == 3
    assert sum(b.input_tokens for b in hourly.series) == sum(r.input_tokens for r in hourly.data) == 25

    only_a = await book.report(since=yesterday, until=today, bucket="day", key_id="key_a", now=NOON)
    assert [(b.requests, b.input_tokens) for b in only_a.series or []] == [(1, 3), (2, 15)]
    assert [(r.key_id, r.model, r.input_tokens) for r in only_a.data] == [("key_a", "echo/echo", 18)]
    by_provider = await book.report(provider="other", bucket="day", now=NOON)
    assert [r.model for r in by_provider.data] == ["other/model-x"]
    assert sum(b.input_tokens for b in by_provider.series or []) == 7
    by_model = await book.report(model="echo/echo", now=NOON)
    assert by_model.series is None and [r.input_tokens for r in by_model.data] == [18]
    with pytest.raises(ValueError, match="31 days"):
        await book.report(since=date(2026, 1, 1), until=today, bucket="hour", now=NOON)


def _entry(n: int, **extra: object) -> LiveEntry:
    fields: dict[str, object] = {"time": n, "request_id": f"req_{n}", "operation": "chat", "status": 200}
    fields.update(extra)
    fields.setdefault("latency_ms", 1.0)
    return LiveEntry(**fields)  # type: ignore[arg-type]


async def test_live_feed_is_bounded() -> None:
    feed = LiveFeed(size=3, max_subscribers=1)
    for n in range(5):
        feed.record(_entry(n))
    assert [e.request_id for e in feed.recent()] == ["req_2", "req_3", "req_4"]
    queue = feed.open()
    with pytest.raises(TooManySubscribers):
        feed.open()
    feed.record(_entry(5, model="m" * 10_000, prompt="p" * 10_000, provider="down", status=502, error="boom"))
    got = queue.get_nowait()
    assert got is not None and len(got.model or "") <= 257 and len(got.prompt or "") <= 2001
    assert feed.last_errors["down"].status == 502
    for n in range(1000):
        feed.record(_entry(n))
    assert queue.qsize() <= 256 and feed.dropped > 0
    feed.close()
    assert queue.qsize() == 1 and queue.get_nowait() is None  # the end, even for a full queue
    feed.release(queue)
    feed.open()  # the slot is free again


def _first_events(base: str, count: int) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    with httpx.stream("GET", base + "/admin/live", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == count:
                    break
    return events


def _config(log_prompts: bool) -> str:
    return f"""
[server]
admin_key = "{ADMIN}"

[telemetry]
log_prompts = {"true" if log_prompts else "false"}

[providers.echo]
plugin = "echo"
"""


@pytest.mark.e2e
@pytest.mark.parametrize("log_prompts", [False, True])
def test_live_feed_shows_the_prompt_only_when_prompts_are_logged(log_prompts: bool) -> None:
    with running_gateway(_config(log_prompts)) as base:
        refused = httpx.get(base + "/admin/live", headers={"authorization": "Bearer nope"}, timeout=10)
        assert refused.status_code == 401
        admin = {"authorization": f"Bearer {ADMIN}"}
        for query, param in (({"bucket": "week"}, "bucket"), ({"since": "yesterday"}, "since")):
            bad = httpx.get(base + "/v1/usage", headers=admin, params=query, timeout=10)
            assert bad.status_code == 400 and bad.json()["error"]["param"] == param
        too_long = {"bucket": "hour", "since": "2026-01-01", "until": "2026-03-01"}
        assert httpx.get(base + "/v1/usage", headers=admin, params=too_long, timeout=10).status_code == 400
        key = httpx.post(
            base + "/admin/keys", headers={"authorization": f"Bearer {ADMIN}"}, json={"name": "lp"}, timeout=10
        ).json()
        answer = httpx.post(
            base + "/v1/chat/completions",
            headers={"authorization": f"Bearer {key['key']}"},
            json={"model": "echo/echo", "messages": [{"role": "user", "content": "the hidden words"}]},
            timeout=10,
        )
        assert answer.status_code == 200
        (event,) = _first_events(base, 1)
        assert event["key_name"] == "lp" and event["key_id"] == key["id"]
        assert event["model"] == "echo/echo" and event["provider"] == "echo"
        assert event["status"] == 200 and event["attempts"] == 1
        assert event["input_tokens"] == answer.json()["usage"]["prompt_tokens"]
        assert event["output_tokens"] == answer.json()["usage"]["completion_tokens"]
        assert ("prompt" in event) is log_prompts
        assert ("the hidden words" in str(event.get("prompt"))) is log_prompts


@pytest.mark.e2e
def test_streams_closed_right_after_done_are_booked_and_charged(redis_url: str) -> None:
    """The official SDK closes a stream as soon as it reads ``[DONE]``; the gateway then cancels the
    request's task, which used to happen while the key was being charged in Redis, losing both the
    charge and the usage row (seen about once in twenty streams)."""
    import openai

    config = f'[server]\nadmin_key = "{ADMIN}"\nstore = "{redis_url}"\n\n[providers.echo]\nplugin = "echo"\n'
    with running_gateway(config) as base:
        admin = {"authorization": f"Bearer {ADMIN}"}
        key = httpx.post(base + "/admin/keys", headers=admin, json={"name": "sdk", "tpm": 10**9}, timeout=10).json()
        client = openai.OpenAI(base_url=base + "/v1", api_key=key["key"], max_retries=0, timeout=30)
        total = 0
        for n in range(40):
            stream = client.chat.completions.create(
                model="echo/echo",
                messages=[{"role": "user", "content": f"stream number {n}"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            total += sum(chunk.usage.total_tokens for chunk in stream if chunk.usage)
        status = httpx.get(f"{base}/admin/keys/{key['id']}", headers=admin, timeout=10).json()
        assert status["tokens_this_minute"] == total
        (row,) = httpx.get(base + "/v1/usage", headers=admin, params={"key": key["id"]}, timeout=10).json()["data"]
        assert row["requests"] == 40 and row["input_tokens"] + row["output_tokens"] == total
