"""Issue 12, finding 1: a stored response belongs to the key that created it.

Two static keys, A and B, with the official ``openai`` client. A creates a response (``store`` on);
B's retrieve, input-item list, ``previous_response_id`` and delete must all be 404s as for an id that
does not exist, and A's response must survive them. An id hexgate holds no record of (and a
``conversation``, or an ``item_reference``) must not be passed on to a native Responses upstream,
which would look it up under the gateway's one upstream key, unless
``server.forward_unknown_response_ids`` says so.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from hexgate.testing import INPROCESS_BASE_URL, Reply, StubUpstream, inprocess_client

KEY_A = "test-key-alice-0001"
KEY_B = "test-key-bob-0002"
NATIVE_ANSWER = {
    "id": "resp_upstream_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "m",
    "output": [],
    "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
}


def config(native: StubUpstream, extra: str = "") -> str:
    return f"""
[server]
api_keys = ["{KEY_A}", "{KEY_B}"]
{extra}

[providers.echo]
plugin = "echo"

[providers.oa]
plugin = "openai"
base_url = "{native.url}/v1"
api_key = "shared-upstream-key"
"""


@pytest.fixture(scope="module")
def native() -> Iterator[StubUpstream]:
    with StubUpstream({"POST /v1/responses": Reply(body=json.dumps(NATIVE_ANSWER).encode())}) as stub:
        yield stub


@pytest.fixture(scope="module")
def base(native: StubUpstream) -> Iterator[httpx.Client]:
    """The gateway in-process: ownership is the app's (the response store), not the server's."""
    with inprocess_client(config(native)) as http:
        yield http


def client(base: httpx.Client, key: str) -> contextlib.nullcontext[openai.OpenAI]:
    """The official client for ``key``, sharing the gateway's client (which it must not close)."""
    sdk = openai.OpenAI(base_url=f"{INPROCESS_BASE_URL}/v1", api_key=key, max_retries=0, http_client=base)
    return contextlib.nullcontext(sdk)


def test_another_key_sees_a_stored_response_as_unknown(base: httpx.Client) -> None:
    with client(base, KEY_A) as a, client(base, KEY_B) as b:
        created = a.responses.create(model="echo/echo", input="alice's secret plan")
        rid = created.id

        with pytest.raises(openai.NotFoundError) as got:
            b.responses.retrieve(rid)
        assert rid in got.value.message
        with pytest.raises(openai.NotFoundError):
            b.responses.input_items.list(rid)
        with pytest.raises(openai.NotFoundError) as cont:
            b.responses.create(model="echo/echo", input="go on", previous_response_id=rid)
        assert cont.value.body is not None and cont.value.code == "previous_response_not_found"
        with pytest.raises(openai.NotFoundError):
            b.responses.delete(rid)

        # the owner still has it, whole
        assert a.responses.retrieve(rid).output_text == "alice's secret plan"
        assert [i.type for i in a.responses.input_items.list(rid).data] == ["message"]
        follow = a.responses.create(model="echo/echo", input="and more", previous_response_id=rid)
        assert follow.output_text == "and more"
        a.responses.delete(rid)
        with pytest.raises(openai.NotFoundError):
            a.responses.retrieve(rid)


def test_b_answer_matches_a_truly_unknown_id(base: httpx.Client) -> None:
    """B cannot tell A's id from one that never existed: same status, same envelope shape."""
    with client(base, KEY_A) as a:
        rid = a.responses.create(model="echo/echo", input="hi").id
    headers = {"authorization": f"Bearer {KEY_B}"}
    theirs = base.get(f"/v1/responses/{rid}", headers=headers)
    missing = base.get("/v1/responses/resp_doesnotexist", headers=headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"].keys() == missing.json()["error"].keys()
    assert theirs.json()["error"]["message"].replace(rid, "X") == missing.json()["error"]["message"].replace(
        "resp_doesnotexist", "X"
    )


def test_unknown_previous_id_is_not_forwarded_to_a_native_upstream(base: httpx.Client, native: StubUpstream) -> None:
    native.requests.clear()
    with client(base, KEY_B) as b:
        with pytest.raises(openai.NotFoundError) as got:
            b.responses.create(model="oa/m", input="continue", previous_response_id="resp_someone_elses")
        assert got.value.code == "previous_response_not_found"
        with pytest.raises(openai.BadRequestError) as conv:
            b.responses.create(model="oa/m", input="continue", extra_body={"conversation": "conv_someone_elses"})
        assert "conversation" in conv.value.message
        with pytest.raises(openai.BadRequestError) as ref:
            b.responses.create(model="oa/m", input=[{"type": "item_reference", "id": "msg_someone_elses"}])
        assert ref.value.param == "input[0]"
    assert native.requests == []


def test_a_key_continues_its_own_native_response_upstream(base: httpx.Client, native: StubUpstream) -> None:
    """The key that created a native response (kept upstream too) may continue it: the id goes upstream."""
    native.requests.clear()
    with client(base, KEY_A) as a:
        first = a.responses.create(model="oa/m", input="hi")
        a.responses.create(model="oa/m", input="again", previous_response_id=first.id)
    assert native.requests[-1].json()["previous_response_id"] == first.id


def test_forwarding_unknown_ids_can_be_allowed() -> None:
    with StubUpstream({"POST /v1/responses": Reply(body=json.dumps(NATIVE_ANSWER).encode())}) as native:
        extra = "forward_unknown_response_ids = true"
        with inprocess_client(config(native, extra)) as http, client(http, KEY_B) as b:
            b.responses.create(model="oa/m", input="continue", previous_response_id="resp_upstream_only")
            b.responses.create(model="oa/m", input="continue", extra_body={"conversation": "conv_1"})
            b.responses.create(model="oa/m", input=[{"type": "item_reference", "id": "msg_1"}])
        sent = [r.json() for r in native.requests]
        assert sent[0]["previous_response_id"] == "resp_upstream_only"
        assert sent[1]["conversation"] == "conv_1"
        assert sent[2]["input"] == [{"type": "item_reference", "id": "msg_1"}]
