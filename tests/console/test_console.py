"""The operator's console in a real browser against two gateway replicas sharing Redis: a key created
in the page serves the official openai client, its requests appear in Live and then in Usage with
the exact tokens the client got back, and revoking it in the page makes the client get a 401.
Without the admin key the page shows nothing and the API refuses."""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, Page, expect

from hexgate.ops.state import RedisBackend
from hexgate.ops.usage import UsageBook

pytestmark = pytest.mark.e2e

ADMIN = "console-admin-key-000"
PHONE = {"width": 390, "height": 844}


def admin(base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, base + path, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30, **kwargs)


def unlock(page: Page, base: str) -> None:
    page.goto(base + "/")
    page.fill("#admin-key", ADMIN)
    page.click("#save-admin")
    expect(page.locator("#save-admin")).to_have_text("Lock")


def shot(page: Page, shots: Path | None, name: str) -> None:
    if shots is not None:
        page.screenshot(path=str(shots / name), full_page=False)


def seed_history(redis_url: str, key_id: str) -> int:
    """Six days of hourly traffic for ``key_id`` written by hexgate's own usage book into the shared
    Redis (the same writes a replica makes, dated in the past); the number of hours written."""
    rng = random.Random(18)
    now = time.time()
    hours = 0

    async def write() -> None:
        nonlocal hours
        backend = RedisBackend(redis_url)
        book = UsageBook(backend)
        for ago in range(1, 6 * 24):
            when = now - ago * 3600
            busy = 1 + math.sin(2 * math.pi * ((when / 3600) % 24 - 9) / 24)
            for _ in range(1 + int(busy * 4)):
                tokens_in, tokens_out = rng.randint(200, 2400), rng.randint(40, 900)
                cost = round((tokens_in * 1.5 + tokens_out * 6) * 1000)
                book.add(
                    key_id=key_id,
                    target="echo/echo",
                    errors=int(rng.random() < 0.03),
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_nanos=cost,
                    now=when,
                )
            hours += 1
        await book.flush()
        await backend.aclose()

    worker = threading.Thread(target=lambda: asyncio.run(write()))  # Playwright holds this thread's loop
    worker.start()
    worker.join(60)
    return hours


def chat(client: openai.OpenAI, text: str) -> tuple[int, int]:
    answer = client.chat.completions.create(model="echo/echo", messages=[{"role": "user", "content": text}])
    assert answer.usage is not None
    return answer.usage.prompt_tokens, answer.usage.completion_tokens


def chat_stream(client: openai.OpenAI, text: str) -> tuple[int, int]:
    stream = client.chat.completions.create(
        model="echo/echo",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        usage = chunk.usage or usage
    assert usage is not None
    return usage.prompt_tokens, usage.completion_tokens


def test_console_key_to_live_to_usage_to_revoke(
    page: Page, replicas: tuple[str, str], redis_url: str, shots: Path | None
) -> None:
    a, b = replicas
    # a second key and a revoked one, made through the API, so the lists are not trivially short
    spec = {"name": "batch-jobs", "models": ["echo/*"], "tpm": 50_000, "expires": "90d"}
    batch = admin(b, "POST", "/admin/keys", json=spec)
    assert batch.status_code == 201
    old = admin(b, "POST", "/admin/keys", json={"name": "old-laptop", "budget": 2}).json()
    assert admin(b, "DELETE", f"/admin/keys/{old['id']}").status_code == 200
    seeded = seed_history(redis_url, batch.json()["id"])

    unlock(page, a)
    page.click("#tab-keys")
    page.fill("#new-key-name", "team-console")
    page.fill("#new-key-rpm", "120")
    page.fill("#new-key-budget", "50")
    page.fill("#new-key-period", "30d")
    page.click("#new-key-create")
    secret = page.locator("#key-secret-value")
    expect(secret).to_have_text(re.compile(r"^sk-hg-[A-Za-z0-9_-]{43}$"))
    token = secret.text_content() or ""
    row = page.locator('#keys-table tr[data-key-name="team-console"]')
    expect(row).to_have_attribute("data-state", "active")
    key_id = row.get_attribute("data-key-id") or ""
    page.click("#key-secret-close")
    expect(page.locator("#key-secret")).to_be_hidden()

    page.click("#tab-live")
    expect(page.locator("#live-status")).to_have_text("● live")

    on_a = openai.OpenAI(base_url=a + "/v1", api_key=token, max_retries=0, timeout=30)
    on_b = openai.OpenAI(base_url=b + "/v1", api_key=token, max_retries=0, timeout=30)
    got = [chat(on_a, "hello there"), chat_stream(on_a, "one two three four"), chat(on_a, "the console shows this")]
    got += [chat(on_b, "served by the other replica"), chat_stream(on_b, "and streamed there")]
    batch_client = openai.OpenAI(base_url=b + "/v1", api_key=batch.json()["key"], max_retries=0, timeout=30)
    chat(batch_client, "nightly summary of everything")
    batch_on_a = openai.OpenAI(base_url=a + "/v1", api_key=batch.json()["key"], max_retries=0, timeout=30)
    for text in ("classify these tickets", "translate the release notes into French", "summarise the incident"):
        chat_stream(batch_on_a, text)
    with pytest.raises(openai.APIStatusError):  # the provider whose upstream is down: 502, its circuit opens
        on_a.chat.completions.create(model="down/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

    live = page.locator("#live-table tbody tr", has_text="team-console")
    expect(live).to_have_count(4)  # this replica's three, and the failed one
    newest_ok = live.filter(has_text="echo/echo").first
    expect(newest_ok).to_contain_text("200")
    expect(newest_ok.locator("td.tokens")).to_have_text(f"{got[2][0]} / {got[2][1]}")
    expect(page.locator("#live-table tbody tr", has_text="down/gpt-4o-mini").locator("td.status-code")).to_have_text(
        "502"
    )
    shot(page, shots, "console-live.png")

    page.click("#tab-usage")
    page.select_option("#usage-key", key_id)
    want_in, want_out = sum(g[0] for g in got), sum(g[1] for g in got)
    usage_row = page.locator('#usage-table tbody tr[data-model="echo/echo"]')
    deadline = time.monotonic() + 20  # each replica writes its usage once a second
    while True:
        page.click("#usage-apply")
        expect(page.locator("#usage-status")).not_to_have_text("Loading…")
        if usage_row.count() and usage_row.locator("td.input").text_content() == str(want_in):
            break
        if time.monotonic() > deadline:
            rows = {
                name: [
                    (r["model"], r["requests"], r["input_tokens"])
                    for r in admin(base, "GET", "/v1/usage", params={"key": key_id}).json()["data"]
                ]
                for name, base in (("a", a), ("b", b))
            }
            raise AssertionError((got, usage_row.all_text_contents(), rows))
        time.sleep(0.5)
    expect(usage_row.locator("td.requests")).to_have_text("5")
    expect(usage_row.locator("td.input")).to_have_text(str(want_in))
    expect(usage_row.locator("td.output")).to_have_text(str(want_out))
    chart = page.locator("#usage-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    assert int(chart.get_attribute("data-points") or 0) >= 1
    expect(page.locator("#total-input")).to_contain_text(str(want_in))
    with page.expect_download() as download:
        page.click("#usage-csv")
    csv_text = Path(download.value.path()).read_text()
    assert f"{key_id},team-console,echo,echo/echo,5,0,{want_in},{want_out}," in csv_text
    page.select_option("#usage-key", "")
    expect(page.locator('#usage-table tbody tr[data-key-id="-"]')).to_have_count(0)
    expect(page.locator("#usage-table tbody tr")).to_have_count(3)  # team-console: echo and down/*; batch-jobs
    assert int(chart.get_attribute("data-points") or 0) >= seeded  # one point per hour of the seeded history
    shot(page, shots, "console-usage.png")

    page.click("#tab-providers")
    down = page.locator('#providers-table tr[data-provider="down"]')
    expect(down.locator("td.circuits")).to_contain_text("open")
    expect(down.locator("td.last-error")).to_contain_text("502")
    expect(page.locator('#providers-table tr[data-provider="echo"] td.circuits')).to_contain_text("closed")
    shot(page, shots, "console-providers.png")

    page.click("#tab-keys")
    expect(row.locator("td.spent")).to_contain_text("of $50.00")
    shot(page, shots, "console-keys.png")
    row.locator("button.revoke").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("team-console")
    page.click("#confirm-ok")
    expect(row).to_have_attribute("data-state", "revoked")
    for client in (on_a, on_b):
        deadline = time.monotonic() + 5  # revocation reaches every replica within the key cache's 0.5 s
        while True:
            try:
                chat(client, "still there?")
            except openai.AuthenticationError as exc:
                assert exc.status_code == 401
                break
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.2)


ADMIN_ROUTES = [
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys"),
    ("DELETE", "/admin/keys/key_0000000000000000"),
    ("GET", "/v1/usage"),
    ("GET", "/v1/usage?bucket=hour"),
    ("GET", "/admin/live"),
    ("GET", "/admin/providers"),
]


def test_without_the_admin_key_the_console_shows_nothing_and_the_api_refuses(page: Page, gateway: str) -> None:
    created = admin(gateway, "POST", "/admin/keys", json={"name": "secret-team"})
    assert created.status_code == 201
    virtual = created.json()["key"]
    for method, path in ADMIN_ROUTES:
        for headers in ({}, {"authorization": "Bearer wrong-admin-key"}, {"authorization": f"Bearer {virtual}"}):
            answer = httpx.request(method, gateway + path, headers=headers, json={"name": "x"}, timeout=10)
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.json()["error"]["code"] == "invalid_admin_key"
            assert "secret-team" not in answer.text

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(gateway + "/")
    for tab in ("keys", "usage", "live"):
        page.click(f"#tab-{tab}")
        expect(page.locator(f"#panel-{tab} .locked-hint")).to_be_visible()
        expect(page.locator(f"#panel-{tab} .unlocked-only")).to_be_hidden()
        expect(page.locator(f"#panel-{tab} tbody tr")).to_have_count(0)
    page.click("#tab-providers")
    expect(page.locator("#providers-table th.admin-only").first).to_be_hidden()
    expect(page.locator("#providers-admin-hint")).to_be_visible()
    assert not [u for u in asked if "/admin/" in u or "/v1/usage" in u], asked
    expect(page.locator("body")).not_to_contain_text("secret-team")

    page.fill("#admin-key", "wrong-admin-key")
    page.click("#save-admin")
    page.click("#tab-keys")
    expect(page.locator("#keys-status")).to_contain_text("admin key was refused")
    expect(page.locator("#keys-table tbody tr")).to_have_count(0)
    page.click("#tab-live")
    expect(page.locator("#live-status")).to_contain_text("admin key was refused")
    expect(page.locator("body")).not_to_contain_text("secret-team")


def test_key_form_shows_the_admin_api_errors_next_to_their_fields(page: Page, gateway: str) -> None:
    unlock(page, gateway)
    page.click("#tab-keys")
    page.fill("#new-key-name", "bad-limits")
    page.fill("#new-key-rpm", "0")
    page.click("#new-key-create")
    expect(page.locator('.field-error[data-for="rpm"]')).to_contain_text(">= 1")
    expect(page.locator("#new-key-rpm")).to_have_attribute("aria-invalid", "true")
    page.fill("#new-key-rpm", "")
    page.fill("#new-key-period", "soon")
    page.click("#new-key-create")
    expect(page.locator('.field-error[data-for="rpm"]')).to_be_empty()
    expect(page.locator('.field-error[data-for="period"]')).to_contain_text("is not a duration")
    page.fill("#new-key-period", "")
    page.fill("#new-key-name", "")
    page.click("#new-key-create")
    expect(page.locator('.field-error[data-for="name"]')).not_to_be_empty()
    expect(page.locator('#keys-table tr[data-key-name="bad-limits"]')).to_have_count(0)


def test_console_fits_a_phone(browser: Browser, gateway: str, tmp_path: Path) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        unlock(page, gateway)
        for tab in ("keys", "usage", "live", "providers"):
            page.click(f"#tab-{tab}")
            page.wait_for_timeout(300)
            if tab == "usage":
                expect(page.locator("#usage-chart canvas")).to_have_count(1)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the {tab} tab is {width} px wide on a {PHONE['width']} px phone"
            page.screenshot(path=str(tmp_path / f"console-{tab}-phone.png"))  # to look at when it fails
        assert not errors, errors
    finally:
        context.close()
