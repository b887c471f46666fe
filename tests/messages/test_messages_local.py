"""``/v1/messages`` over the embedded local model (``local/smollm2-135m-instruct``; chat only, so
bridged), end to end with the official ``anthropic`` client, and a ``claude-*`` pattern alias onto it
(the names Claude Code sends)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from hexgate.testing import running_gateway

pytestmark = pytest.mark.e2e

MODEL = "local/smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
CONFIG = """
[providers.local]
plugin = "local"

[models."claude-*"]
target = "local/smollm2-135m-instruct"
"""


@pytest.fixture(scope="module")
def client() -> Iterator[anthropic.Anthropic]:
    with (
        running_gateway(CONFIG) as url,
        anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0, timeout=120) as client,
    ):
        yield client


def test_create(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=32, temperature=0, messages=QUESTION)  # type: ignore[arg-type]
    assert message.content[0].type == "text" and "Paris" in message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_stream_through_a_pattern_alias(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-4-5-20250929",
        max_tokens=32,
        temperature=0,
        system="You answer in one word.",
        messages=QUESTION,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_message()
    assert final.model == "claude-sonnet-4-5-20250929"
    assert "Paris" in final.content[0].text  # type: ignore[union-attr]


def test_max_tokens_and_stop_sequence(client: anthropic.Anthropic) -> None:
    short = client.messages.create(
        model=MODEL,
        max_tokens=3,
        temperature=0,
        messages=[{"role": "user", "content": "Write a long story about a dragon."}],
    )
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens <= 3
    counted = client.messages.count_tokens(model=MODEL, messages=QUESTION)  # type: ignore[arg-type]
    assert counted.input_tokens > 0
    stopped = client.messages.create(
        model=MODEL,
        max_tokens=64,
        temperature=0,
        stop_sequences=["3"],
        messages=[{"role": "user", "content": "Count from 1 to 10, separated by commas."}],
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "3"
    assert "3" not in stopped.content[0].text  # type: ignore[union-attr]
