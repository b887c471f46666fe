"""Issue 12, finding 7: JSON body routes take ``application/json`` only.

Before the fix any content type was decoded as JSON, so in no-key mode a cross-site HTML form
(``text/plain``, sent without a CORS preflight) could spend upstream credit. Now anything but
``application/json`` (with or without parameters) is a 415 in OpenAI's envelope; the SDK still works.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from hexgate.testing import INPROCESS_BASE_URL, inprocess_client

CONFIG = """
[providers.echo]
plugin = "echo"
"""
BODY = json.dumps({"model": "echo/echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
PATHS = ["/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/images/generations"]


@pytest.fixture(scope="module")
def base() -> Iterator[httpx.Client]:
    """The gateway in-process: the content-type check is the app's, not the server's."""
    with inprocess_client(CONFIG) as client:
        yield client


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
def test_other_content_types_are_a_415(base: httpx.Client, path: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = base.post(path, content=BODY, headers=headers)
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "application/json" in error["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_is_accepted(base: httpx.Client, content_type: str) -> None:
    answer = base.post("/v1/chat/completions", content=BODY, headers={"content-type": content_type})
    assert answer.status_code == 200, answer.text


def test_the_openai_sdk_still_works(base: httpx.Client) -> None:
    client = openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key="unused", max_retries=0, http_client=base)
    answer = client.chat.completions.create(model="echo/echo", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content
