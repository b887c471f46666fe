"""Issue 12, finding 3: what a key is charged for output it got.

A virtual key with a ``tpm`` limit (memory store) reads 20 deltas of a ``/v1/responses`` stream and
closes it: the key must be charged the input and the output so far (hexgate's estimate when the
upstream sent no usage), on the bridge (a chat-only provider) and on a native Responses upstream.
Image generation passes through the meter too, so ``tpm`` sees it.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from hexgate.testing import Reply, StubUpstream, running_gateway

pytestmark = pytest.mark.e2e

ADMIN = "test-admin-key-charging"
WORDS = " ".join(f"w{n:03d}" for n in range(400))
IMAGE_PROVIDER = """
import base64, time
from hexgate_echo import EchoProvider
from hexgate.schemas.images import GeneratedImage, ImagesResponse

class Provider(EchoProvider):
    async def generate_image(self, request, ctx):
        item = GeneratedImage(b64_json=base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n").decode())
        return ImagesResponse(created=int(time.time()), data=[item])
"""


def native_events() -> list[bytes]:
    """A Responses stream that sends 200 text deltas, then hangs (no terminal event, no usage)."""
    head = {"id": "resp_native_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "m"}
    frames = [{"type": "response.created", "sequence_number": 0, "response": head}]
    for n in range(200):
        frames.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": n + 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": f" w{n:03d}",
            }
        )
    return [f"event: {f['type']}\ndata: {json.dumps(f)}\n\n".encode() for f in frames]


@pytest.fixture(scope="module")
def native() -> Iterator[StubUpstream]:
    reply = Reply(body=native_events(), headers={"content-type": "text/event-stream"}, delay=0.02, hang=30)
    with StubUpstream({"POST /v1/responses": reply}) as stub:
        yield stub


@pytest.fixture(scope="module")
def base(native: StubUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("charging")
    (root / "charging_images.py").write_text(textwrap.dedent(IMAGE_PROVIDER), encoding="utf-8")
    config = f"""
[server]
admin_key = "{ADMIN}"
store = "memory"

[providers.echo]
plugin = "echo"
delay = 0.02

[providers.oa]
plugin = "openai"
base_url = "{native.url}/v1"
api_key = "upstream-key"

[providers.img]
plugin = "charging_images:Provider"
"""
    with running_gateway(config, env={"PYTHONPATH": str(root)}) as url:
        yield url


def new_key(base: str, **spec: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{base}/admin/keys", json={"name": "charging", **spec}, headers={"authorization": f"Bearer {ADMIN}"}
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def used(base: str, key_id: str, *, at_least: int = 1, wait: float = 5.0) -> int:
    """The key's tokens this minute, once they reach ``at_least`` (a cancelled request is charged in the
    background) or ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    while True:
        answer = httpx.get(f"{base}/admin/keys/{key_id}", headers={"authorization": f"Bearer {ADMIN}"})
        tokens: int = answer.json()["tokens_this_minute"]
        if tokens >= at_least or time.monotonic() > deadline:
            return tokens
        time.sleep(0.1)


def read_deltas_and_leave(base: str, key: str, body: dict[str, Any], deltas: int = 20) -> None:
    seen = 0
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{base}/v1/responses", json=body, headers=headers, timeout=30) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if line == "event: response.output_text.delta":
                seen += 1
                if seen == deltas:
                    break
    assert seen == deltas


def test_a_cancelled_bridged_stream_is_charged_what_it_produced(base: str) -> None:
    key = new_key(base, tpm=1_000_000)
    read_deltas_and_leave(base, key["key"], {"model": "echo/echo", "input": WORDS, "stream": True})
    prompt_estimate = len(WORDS) // 4  # ~500 tokens of input
    charged = used(base, key["id"], at_least=prompt_estimate + 20)
    assert charged >= prompt_estimate + 20, charged


def test_a_cancelled_native_stream_is_charged_what_it_produced(base: str, native: StubUpstream) -> None:
    key = new_key(base, tpm=1_000_000)
    read_deltas_and_leave(base, key["key"], {"model": "oa/m", "input": WORDS, "stream": True})
    charged = used(base, key["id"], at_least=len(WORDS) // 4 + 20)
    assert charged >= len(WORDS) // 4 + 20, charged
    assert native.wait_for(lambda: native.disconnects >= 1 or native.open_connections == 0)


def test_image_generation_counts_against_tpm(base: str) -> None:
    key = new_key(base, tpm=500)
    with openai.OpenAI(base_url=f"{base}/v1", api_key=key["key"], max_retries=0, timeout=30) as client:
        client.images.generate(model="img/echo", prompt="a red square")
        assert used(base, key["id"]) > 500
        with pytest.raises(openai.RateLimitError):
            client.images.generate(model="img/echo", prompt="a red square")
