"""Aliases with several targets, the plan a request walks, circuits, retry-after parsing, and the
per-attempt connect timeout: unit level, no server."""

from __future__ import annotations

import collections
import time
from pathlib import Path

import httpx
import pytest

from hexgate.clients import CONNECT_TIMEOUT, apply_connect_timeout
from hexgate.plugin_kit import retry_after as retry_after_from
from hexgate.registry import Registry
from hexgate.settings import AliasTarget, ConfigError, Timeouts, load_settings
from hexgate.testing import StubUpstream

PROVIDERS = "".join(f'[providers.{p}]\nplugin = "echo"\n' for p in "abc")


def settings(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(PROVIDERS + text, encoding="utf-8")
    return load_settings(path, env={})


def registry(tmp_path: Path, text: str) -> Registry:
    from hexgate_echo import EchoProvider

    s = settings(tmp_path, text)
    http = httpx.AsyncClient()
    return Registry(s, {pid: EchoProvider({}, http=http) for pid in s.providers}, [http])


def test_single_target_and_lists_of_strings_and_tables(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        """
[models.one]
target = "a/m"
[models.list]
targets = ["a/m", "b/m"]
[models.mixed]
targets = [{ target = "a/m", rank = 1, weight = 3 }, { target = "b/m", rank = 1 }, "c/m"]
retries = 0
timeouts = { first_byte = 5, total = 30 }
""",
    )
    assert s.models["one"].target == "a/m"
    assert s.models["one"].entries() == [AliasTarget(target="a/m", rank=1)]
    assert [(t.target, t.rank) for t in s.models["list"].entries()] == [("a/m", 1), ("b/m", 2)]
    assert [(t.target, t.rank, t.weight) for t in s.models["mixed"].entries()] == [
        ("a/m", 1, 3.0),
        ("b/m", 1, 1.0),
        ("c/m", 3, 1.0),
    ]
    assert s.models["mixed"].retries == 0
    assert s.models["mixed"].timeouts == Timeouts(first_byte=5, total=30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[models.x]\ntarget = "a/m"\ntargets = ["b/m"]\n', "models.x: give exactly one of"),
        ("[models.x]\ndescription = 'nothing'\n", "models.x: give exactly one of"),
        ("[models.x]\ntargets = []\n", "models.x.targets: the list is empty"),
        ('[models.x]\ntargets = ["a/m", "zz/m"]\n', "models.x.targets[1]: 'zz/m'"),
        ('[models.x]\ntargets = [{ target = "a/m", weight = 0 }]\n', "models.x.targets[0].weight"),
        ('[models.x]\ntargets = [{ target = "a/m", rnk = 2 }]\n', "unknown field `rnk`"),
        ('[models.x]\ntarget = "a/m"\ntimeouts = { idle = -1 }\n', "models.x.timeouts.idle"),
        ("[routing]\nretries = -1\n", "routing.retries"),
        ("[routing.timeouts]\nconect = 1\n", "unknown field `conect`"),
        ("[providers.a.timeouts]\nfirst_byte = 'soon'\n", "providers.a.timeouts.first_byte"),
    ],
)
def test_config_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, text)
    assert expected in str(info.value)


def test_provider_timeouts_are_the_cores_not_the_plugins(tmp_path: Path) -> None:
    s = settings(tmp_path, "[providers.a.timeouts]\nconnect = 2\nidle = 9\n")
    assert s.providers["a"].timeouts == Timeouts(connect=2, idle=9)
    assert "timeouts" not in s.providers["a"].settings


def test_timeouts_the_more_specific_level_wins(tmp_path: Path) -> None:
    reg = registry(
        tmp_path,
        """
[server]
request_timeout = 100
[routing.timeouts]
first_byte = 30
idle = 20
[providers.a.timeouts]
connect = 3
idle = 10
[models.m]
target = "a/m"
timeouts = { idle = 5 }
""",
    )
    route = reg.plan("m").routes[0]
    assert route.timeouts == Timeouts(connect=3, first_byte=30, idle=5, total=100)
    plain = reg.plan("b/x").routes[0]
    assert plain.timeouts == Timeouts(connect=10, first_byte=30, idle=20, total=100)
    assert reg.plan("m").timeouts.total == 100


def test_plan_orders_by_rank_then_weight_and_resolve_gives_the_first(tmp_path: Path) -> None:
    targets = '[{ target = "a/m", rank = 1, weight = 3 }, { target = "b/m", rank = 1 }, "c/m"]'
    reg = registry(tmp_path, f"[models.m]\ntargets = {targets}\n")
    reg.random.seed(1)
    firsts = collections.Counter()
    for _ in range(4000):
        plan = reg.plan("m")
        assert plan.routes[-1].target == "c/m"
        firsts[plan.routes[0].target] += 1
    assert 2700 < firsts["a/m"] < 3300  # 3:1 by weight
    assert reg.resolve("m").target == "a/m"
    assert reg.resolve("b/other").target == "b/other"


def test_an_open_circuit_sends_its_target_last_until_the_cooldown_ends(tmp_path: Path) -> None:
    reg = registry(tmp_path, '[routing]\nfailure_threshold = 2\ncooldown = 60\n[models.m]\ntargets = ["a/m", "b/m"]\n')
    a = reg.plan("m").routes[0]
    reg.record(a, failed=True)
    assert [r.target for r in reg.plan("m").routes] == ["a/m", "b/m"]
    reg.record(a, failed=True)
    assert [r.target for r in reg.plan("m").routes] == ["b/m", "a/m"]
    breaker = reg.breakers["a/m"]
    assert breaker.open_until - time.monotonic() > 50
    breaker.open_until = 0.0  # cooldown over: one request probes a, the others keep it last meanwhile
    assert [r.target for r in reg.plan("m").routes] == ["a/m", "b/m"]
    assert [r.target for r in reg.plan("m").routes] == ["b/m", "a/m"]
    reg.record(a, failed=True)  # the probe failed: open again
    assert [r.target for r in reg.plan("m").routes] == ["b/m", "a/m"]
    breaker.open_until = 0.0
    reg.record(a, failed=False)
    assert breaker.failures == 0
    reg.record(a, failed=True, retry_after=600)
    assert breaker.failures == 1 and not breaker.is_open(time.monotonic())


def test_a_long_retry_after_keeps_the_circuit_open_longer(tmp_path: Path) -> None:
    reg = registry(tmp_path, '[routing]\nfailure_threshold = 1\ncooldown = 5\n[models.m]\ntargets = ["a/m", "b/m"]\n')
    reg.record(reg.plan("m").routes[0], failed=True, retry_after=300)
    assert reg.breakers["a/m"].open_until - time.monotonic() > 250


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_from(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    from email.utils import formatdate

    seconds = retry_after_from({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert seconds is not None and 25 < seconds <= 30


async def test_the_attempts_connect_timeout_overrides_the_plugins() -> None:
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.extensions["timeout"]))
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=httpx.Timeout(60)) as http:
        http.event_hooks["request"].append(apply_connect_timeout)
        await http.get("http://upstream.test/", timeout=httpx.Timeout(60, connect=30))
        token = CONNECT_TIMEOUT.set(0.25)
        try:
            await http.get("http://upstream.test/", timeout=httpx.Timeout(60, connect=30))
        finally:
            CONNECT_TIMEOUT.reset(token)
    assert seen[0]["connect"] == 30
    assert seen[1]["connect"] == seen[1]["pool"] == 0.25
    assert seen[1]["read"] == 60


def test_stub_is_importable() -> None:
    assert StubUpstream  # the fault suite's upstream lives in hexgate.testing


def test_a_breaker_reports_opening_once() -> None:
    from hexgate.registry import Breaker

    breaker = Breaker()
    opened = [breaker.failure(now=100.0, threshold=2, cooldown=10, retry_after=None) for _ in range(4)]
    assert opened == [False, True, False, False]
    assert breaker.is_open(105.0) and not breaker.is_open(111.0)
    assert breaker.failure(now=111.0, threshold=2, cooldown=10, retry_after=None)  # half-open probe failed
