"""``/metrics`` after traffic: OpenTelemetry GenAI names and labels, by provider and model, with
errors, tokens, time to first token and the refusals of key limits."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e


def samples(base: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if all(got.get(k) == w for k, w in labels.items()))


def test_metrics_after_traffic(ops: Any) -> None:
    with running_gateway(ops.config("memory"), env=ops.ENV) as base:
        key = ops.new_key(base, rpm=3)["key"]
        with (
            openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0) as c,
            openai.OpenAI(base_url=f"{base}/v1", api_key=ops.STATIC, max_retries=0) as static,
        ):
            c.chat.completions.create(model="echo/echo", messages=[{"role": "user", "content": "one two"}])
            stream = c.chat.completions.create(
                model="echo/echo", messages=[{"role": "user", "content": "three four five"}], stream=True
            )
            assert len([chunk for chunk in stream]) > 3
            with pytest.raises(openai.InternalServerError):
                c.chat.completions.create(model="echo/echo", messages=[{"role": "user", "content": "!fail 503"}])
            with pytest.raises(openai.RateLimitError):
                c.chat.completions.create(model="echo/echo", messages=[{"role": "user", "content": "over"}])
            static.embeddings.create(model="echo/echo", input=["a b c"])
            with pytest.raises(openai.NotFoundError):
                static.chat.completions.create(model="nowhere/m", messages=[{"role": "user", "content": "x"}])
        found = samples(base)

    chat = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "echo", "gen_ai_request_model": "echo/echo"}
    duration = "gen_ai_client_operation_duration_seconds_count"
    assert value(found, duration, **chat, error_type="") == 2
    assert value(found, duration, **chat, error_type="503") == 1
    assert value(found, "hexgate_requests_total", **chat, http_response_status_code="200") == 2
    assert value(found, "hexgate_errors_total", **chat, error_type="503") == 1
    assert value(found, "gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="input") > 2
    assert value(found, "gen_ai_client_token_usage_count", **chat, gen_ai_token_type="output") == 2
    assert value(found, "gen_ai_client_token_usage_sum", **chat, gen_ai_token_type="output") == 2 + 3
    assert value(found, "gen_ai_server_time_to_first_token_seconds_count", **chat) == 1
    assert value(found, "hexgate_active_streams", gen_ai_operation_name="chat", gen_ai_provider_name="echo") == 0
    assert value(found, "hexgate_cost_usd_total", gen_ai_provider_name="echo", gen_ai_request_model="echo/echo") > 0
    assert value(found, "hexgate_refusals_total", reason="requests") == 1
    embed = {"gen_ai_operation_name": "embeddings", "gen_ai_provider_name": "echo"}
    assert value(found, "gen_ai_client_token_usage_sum", **embed, gen_ai_token_type="input") == 3
    # a model that was never routed leaves provider and model empty (clients cannot mint new series)
    assert value(found, duration, gen_ai_provider_name="", gen_ai_request_model="", error_type="404") == 1
