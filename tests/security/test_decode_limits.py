"""Issue 12, findings 2 and 7: what a body may hold before it is decoded into hexgate's Structs.

- JSON nested deeper than msgspec decodes raised RecursionError: a 500 before the fix, now a 400
  in OpenAI's envelope.
- A ``model`` over 256 characters is a 400 naming ``model`` on every route that takes one (before:
  accepted, routed, and kept in metric labels and usage rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hexgate.testing import inprocess_client

CONFIG = """
[providers.echo]
plugin = "echo"
"""
DEPTH = 100_000


@pytest.fixture(scope="module")
def base() -> Iterator[httpx.Client]:
    """The gateway in-process: decoding limits are the app's, not the server's."""
    with inprocess_client(CONFIG) as client:
        yield client


def _post(base: httpx.Client, path: str, body: bytes) -> httpx.Response:
    return base.post(path, content=body, headers={"content-type": "application/json"})


def _envelope(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text[:500]
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in answer.text
    return error


def test_deeply_nested_json_is_a_400(base: httpx.Client) -> None:
    schema = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    body = (
        b'{"model": "echo/echo", "messages": [{"role": "user", "content": "hi"}], '
        b'"tools": [{"type": "function", "function": {"name": "f", "parameters": ' + schema + b"}}]}"
    )
    error = _envelope(_post(base, "/v1/chat/completions", body), 400)
    assert error["type"] == "invalid_request_error"
    assert "deep" in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/embeddings", {"input": "hi"}),
        ("/v1/responses", {"input": "hi"}),
        ("/v1/images/generations", {"prompt": "a cat"}),
    ],
)
def test_model_names_are_capped_at_256_characters(base: httpx.Client, path: str, body: dict[str, Any]) -> None:
    long = base.post(path, json={**body, "model": "echo/" + "m" * 252})
    error = _envelope(long, 400)
    assert error["param"] == "model"
    assert "256" in error["message"]
    fits = base.post(path, json={**body, "model": "echo/" + "m" * 251})
    assert "256" not in fits.text, fits.text  # routed: a 404 from echo, or "cannot generate images"
