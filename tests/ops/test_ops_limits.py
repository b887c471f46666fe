"""Virtual keys and their limits on gateways that must act as one: a single process on the memory store,
and two processes sharing one Redis (``cluster`` runs every test on both). Requests go through the
official ``openai`` client (no retries) or plain HTTP when a test reads headers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e


def client(base: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)


async def test_rpm_admits_exactly_the_limit_under_concurrent_load(cluster: list[str], ops: Any) -> None:
    limit = 5
    key = ops.new_key(cluster[0], rpm=limit)["key"]
    clients = [client(base, key) for base in cluster]

    async def one(i: int) -> tuple[int, httpx.Headers, dict[str, Any] | None]:
        c = clients[i % len(clients)]
        try:
            raw = await c.chat.completions.with_raw_response.create(
                model="echo/echo", messages=[{"role": "user", "content": f"request {i}"}]
            )
        except openai.RateLimitError as exc:
            return 429, exc.response.headers, exc.body if isinstance(exc.body, dict) else None
        assert raw.parse().choices[0].message.content == f"request {i}"
        return raw.http_response.status_code, raw.headers, None

    try:
        results = await asyncio.gather(*(one(i) for i in range(3 * limit)))
    finally:
        for c in clients:
            await c.close()
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == limit
    assert statuses.count(429) == 2 * limit
    for status, headers, body in results:
        assert headers["x-ratelimit-limit-requests"] == str(limit)
        if status == 429:
            assert headers["x-ratelimit-remaining-requests"] == "0"
            assert 1 <= int(headers["retry-after"]) <= 60
            assert body is not None and body["code"] == "rate_limit_exceeded"
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for s, h, _ in results if s == 200)
    assert remaining == list(range(limit))


def test_budget_spent_on_one_replica_refuses_the_key_on_the_other(cluster: list[str], ops: Any) -> None:
    # $1 per token on echo; "hello there" costs 2 + 2 tokens = $4 > the $1 budget
    created = ops.new_key(cluster[0], budget=1.0, period="1d")
    first = ops.chat(cluster[0], created["key"])
    assert first.status_code == 200
    assert first.json()["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    refused = ops.chat(cluster[-1], created["key"])
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "insufficient_quota"
    assert refused.headers["x-should-retry"] == "false"
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    listed = ops.admin(cluster[-1], "GET", f"/admin/keys/{created['id']}").json()
    assert listed["spent"] == pytest.approx(4.0)


def test_tokens_per_minute_refuse_once_the_window_is_used_up(cluster: list[str], ops: Any) -> None:
    key = ops.new_key(cluster[0], tpm=10)["key"]
    answers = [ops.chat(cluster[i % len(cluster)], key) for i in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]  # 4, 8, 12 tokens: the fourth is over
    assert answers[0].headers["x-ratelimit-limit-tokens"] == "10"
    assert answers[2].headers["x-ratelimit-remaining-tokens"] == "2"
    assert answers[3].headers["x-ratelimit-remaining-tokens"] == "0"
    assert answers[3].json()["error"]["code"] == "rate_limit_exceeded"
    assert "tokens per minute" in answers[3].json()["error"]["message"]


def test_streams_count_their_tokens(cluster: list[str], ops: Any) -> None:
    created = ops.new_key(cluster[0], tpm=1000)
    with openai.OpenAI(base_url=f"{cluster[-1]}/v1", api_key=created["key"], max_retries=0) as c:
        stream = c.chat.completions.create(
            model="echo/echo", messages=[{"role": "user", "content": "one two three four"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "one two three four"
    listed = ops.admin(cluster[0], "GET", f"/admin/keys/{created['id']}").json()
    assert listed["tokens_this_minute"] > 4  # the local count: prompt estimate plus four pieces


def test_revocation_reaches_every_replica_within_a_second(cluster: list[str], ops: Any) -> None:
    created = ops.new_key(cluster[0], rpm=100)
    assert ops.chat(cluster[-1], created["key"]).status_code == 200  # the other replica has it cached now
    revoked = ops.admin(cluster[0], "DELETE", f"/admin/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert ops.chat(cluster[0], created["key"]).status_code == 401
    time.sleep(1.0)
    refused = ops.chat(cluster[-1], created["key"])
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "message": "this API key was revoked: send 'Authorization: Bearer <key>' with a valid key",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_model_list_expiry_and_unknown_keys(cluster: list[str], ops: Any) -> None:
    only = ops.new_key(cluster[0], models=["echo/ec*"])["key"]
    assert ops.chat(cluster[-1], only).status_code == 200
    denied = ops.chat(cluster[-1], only, model="echo/other")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "model_not_allowed" and denied.json()["error"]["param"] == "model"
    expired = ops.new_key(cluster[0], expires="2001-01-01")["key"]
    assert ops.chat(cluster[-1], expired).json()["error"]["message"].startswith("this API key has expired")
    assert ops.chat(cluster[-1], "sk-hg-" + "x" * 43).status_code == 401
    assert ops.chat(cluster[-1], "no-such-key").status_code == 401


def test_static_keys_keep_working_and_admin_routes_need_the_admin_key(cluster: list[str], ops: Any) -> None:
    answer = ops.chat(cluster[-1], ops.STATIC)
    assert answer.status_code == 200
    assert not any(h.startswith("x-ratelimit") for h in answer.headers)
    key = ops.new_key(cluster[0])["key"]
    for credentials in (ops.STATIC, key, "wrong"):
        response = httpx.get(f"{cluster[-1]}/admin/keys", headers={"authorization": f"Bearer {credentials}"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_admin_key"
    listing = ops.admin(cluster[-1], "GET", "/admin/keys").json()["data"]
    assert all("key" not in k for k in listing)  # only the hint is ever shown again
    assert all(k["hint"].startswith("sk-hg-") and "…" in k["hint"] for k in listing)


def test_usage_per_key_provider_and_model(cluster: list[str], ops: Any) -> None:
    created = ops.new_key(cluster[0], name="usage-test")
    for base in cluster:
        assert ops.chat(base, created["key"]).status_code == 200
    assert ops.chat(cluster[0], created["key"], text="!fail 503").status_code == 503
    report = ops.admin(cluster[-1], "GET", "/v1/usage", params={"key": created["id"]}).json()
    rows = report["data"]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["key_name"] == "usage-test" and row["provider"] == "echo" and row["model"] == "echo/echo"
    # usage is written once a second per replica: the other replica's last second may lag
    deadline = time.monotonic() + 5
    while row["requests"] < len(cluster) + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
        row = ops.admin(cluster[-1], "GET", "/v1/usage", params={"key": created["id"]}).json()["data"][0]
    assert row["requests"] == len(cluster) + 1
    assert row["errors"] == 1
    assert row["input_tokens"] == 2 * len(cluster)
    assert row["output_tokens"] == 2 * len(cluster)
    assert row["cost"] == pytest.approx(4.0 * len(cluster))


def test_responses_are_charged_like_chat(cluster: list[str], ops: Any) -> None:
    created = ops.new_key(cluster[0], tpm=10_000)

    def used() -> int:
        figures: int = ops.admin(cluster[0], "GET", f"/admin/keys/{created['id']}").json()["tokens_this_minute"]
        return figures

    with openai.OpenAI(base_url=f"{cluster[-1]}/v1", api_key=created["key"], max_retries=0) as c:
        answer = c.responses.create(model="echo/echo", input="one two three", store=False)
        assert answer.output_text == "one two three" and answer.usage is not None
        assert used() == answer.usage.input_tokens + answer.usage.output_tokens
        before = used()
        events = list(c.responses.create(model="echo/echo", input="four five", stream=True))
        completed = events[-1]
        assert completed.type == "response.completed" and completed.response.usage is not None
        assert used() == before + completed.response.usage.total_tokens
