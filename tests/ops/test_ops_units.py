"""Unit level: durations, reset notation, prices, key patterns, the memory counters, registry generations,
JSON log lines, and the config tables ops adds."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from hexgate.ops.keys import KeyRing, KeySpec, VirtualKey, parse_duration, parse_expiry
from hexgate.ops.limits import Limiter, format_reset
from hexgate.ops.logs import REQUEST_ID, JsonFormatter
from hexgate.ops.reload import Generations
from hexgate.ops.state import MemoryBackend
from hexgate.ops.usage import Prices, UsageBook
from hexgate.registry import Registry
from hexgate.settings import ConfigError, Price, load_settings


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0s"), (-5, "0s"), (250, "250ms"), (1000, "1s"), (1001, "2s"), (63_000, "1m3s"), (7_200_000, "2h0m0s")],
)
def test_reset_notation_is_openais(ms: int, text: str) -> None:
    assert format_reset(ms) == text


def test_durations_and_expiry() -> None:
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration("1.5h") == 5400
    assert parse_expiry("2d", now=100.0) == 100.0 + 2 * 86400
    assert parse_expiry("2026-01-31") == 1769817600.0
    assert parse_expiry("2026-01-31T01:00:00+01:00") == 1769817600.0
    for bad in ("soon", "0d", "5y", ""):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="ISO date"):
        parse_expiry("next tuesday")


def test_prices_per_million_tokens_in_nano_dollars() -> None:
    prices = Prices({"openai/gpt-4o-mini": Price(input=0.15, output=0.60), "local/*": Price(input=1)})
    assert prices.cost_nanos("openai/gpt-4o-mini", 1000, 500) == 450_000  # $0.00015 + $0.0003
    assert prices.cost_nanos("local/anything", 3, 100) == 3000
    assert prices.cost_nanos("openai/other", 1000, 1000) == 0
    assert prices.cost_nanos(None, 10, 10) == 0


def test_key_model_patterns_and_problems() -> None:
    key = VirtualKey(id="key_1", name="k", hint="", models=["fast", "openai/*"])
    assert key.allows("fast") and key.allows("openai/gpt-4o") and not key.allows("anthropic/x")
    assert VirtualKey(id="key_2", name="k", hint="").allows("anything")
    assert key.problem(0) is None
    assert VirtualKey(id="k", name="k", hint="", expires_at=10).problem(10) == "this API key has expired"
    assert VirtualKey(id="k", name="k", hint="", revoked_at=1).problem(0) == "this API key was revoked"


async def test_memory_counters_admit_exactly_the_limit_and_windows_expire() -> None:
    backend = MemoryBackend()
    results = await asyncio.gather(*(backend.admit("k", rpm=3, tpm=0, budget=-1, window_ms=100) for _ in range(9)))
    assert [r.verdict for r in results].count(0) == 3
    assert results[-1].requests == 9 and 0 < results[-1].requests_reset_ms <= 100
    await asyncio.sleep(0.15)
    assert (await backend.admit("k", rpm=3, tpm=0, budget=-1, window_ms=100)).verdict == 0
    await backend.charge("k", tokens=50, cost=7, window_ms=60_000, period_ms=0)
    over = await backend.admit("k", rpm=0, tpm=50, budget=-1, window_ms=60_000)
    assert (over.verdict, over.tokens) == (2, 50)
    broke = await backend.admit("k", rpm=0, tpm=0, budget=7, window_ms=60_000)
    assert (broke.verdict, broke.spent, broke.spent_reset_ms) == (3, 7, -1)


async def test_key_ring_keeps_only_the_hash() -> None:
    backend = MemoryBackend()
    ring = KeyRing(backend)
    token, record = await ring.create(KeySpec(name="ci", rpm=5, budget=2.5, period="1d", expires="30d"))
    stored = b"".join(v.data for v in backend.records._store.values())  # type: ignore[attr-defined]
    assert token.encode() not in stored and token[6:].encode() not in stored
    assert (await ring.authenticate(token.encode())) == record
    assert record.period_seconds == 86400 and record.expires_at is not None
    assert [k.id for k in await ring.list()] == [record.id]
    assert (await ring.revoke(record.id)) is not None
    found = await ring.authenticate(token.encode())
    assert found is not None and found.problem(0) == "this API key was revoked"
    assert await ring.revoke("key_nope") is None
    decision = await Limiter(backend).admit(record)
    assert decision.admitted and (b"x-ratelimit-remaining-requests", b"4") in decision.headers


async def test_usage_book_batches_and_reports() -> None:
    backend = MemoryBackend()
    book = UsageBook(backend)
    for _ in range(3):
        book.add(key_id="key_1", target="echo/echo", errors=0, input_tokens=2, output_tokens=3, cost_nanos=10)
    book.add(key_id="-", target="echo/echo", errors=1, input_tokens=0, output_tokens=0, cost_nanos=0)
    assert await backend.read_usage(await backend.members("usage_days")) == {}  # nothing written yet
    report = await book.report()
    assert [(r.key_id, r.requests, r.errors, r.input_tokens, r.output_tokens, r.cost) for r in report.data] == [
        ("-", 1, 1, 0, 0, 0.0),
        ("key_1", 3, 0, 6, 9, 3e-8),
    ]
    assert [r.key_id for r in (await book.report(key_id="key_1")).data] == ["key_1"]


async def test_generations_close_a_retired_registry_after_its_last_request(tmp_path: Path) -> None:
    from hexgate_echo import EchoProvider

    closed: list[str] = []

    class Tracked(Registry):
        async def aclose(self) -> None:
            closed.append(self.settings.source)
            await super().aclose()

    def registry(name: str) -> Registry:
        path = tmp_path / f"{name}.toml"
        path.write_text('[providers.echo]\nplugin = "echo"\n', encoding="utf-8")
        http = httpx.AsyncClient()
        return Tracked(load_settings(path, env={}), {"echo": EchoProvider({}, http=http)}, [http])

    class State:
        registry: Registry

    state = State()
    state.registry = registry("old")
    generations = Generations(state)
    pinned = generations.acquire()
    new = registry("new")
    generations.swap(new)
    assert generations.current is new and generations.acquire() is new
    await asyncio.sleep(0)
    assert closed == []  # a request still runs on the old one
    generations.release(pinned)
    await generations.aclose()
    assert closed == [str(tmp_path / "old.toml")]
    generations.release(new)
    await new.aclose()


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("hexgate.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.usage = {"prompt_tokens": 3}
    token = REQUEST_ID.set("req_123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "hello you" and line["request_id"] == "req_123" and line["level"] == "INFO"
    assert line["usage"] == {"prompt_tokens": 3} and line["time"].endswith("Z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[prices."nowhere"]\ninput = 1\n', "prices.nowhere: name a '<provider id>/<model>'"),
        ('[prices."a/b"]\ninput = -1\n', "prices.a/b.input"),
        ('[prices."a/b"]\ninptu = 1\n', "unknown field `inptu`"),
        ("[telemetry]\ntraces = 'yes'\n", "telemetry.traces"),
        ("[server]\nlog_format = 'xml'\n", "server.log_format"),
    ],
)
def test_config_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert expected in str(info.value)


def test_a_store_that_is_not_one_stops_the_start(tmp_path: Path) -> None:
    from hexgate.ops.service import preflight

    path = tmp_path / "config.toml"
    path.write_text('[server]\nstore = "postgres://x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"server\.store"):
        preflight(load_settings(path, env={}))
