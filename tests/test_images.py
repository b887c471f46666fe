"""``POST /v1/images/generations`` and ``GET /v1/images/files/{name}``: the official openai client
against a running hexgate with a fake image-capable provider (a plugin named by import path), plus
unit tests of the expiring image store and of the b64_json → url delivery."""

from __future__ import annotations

import base64
import struct
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from hexgate.errors import UpstreamError
from hexgate.routes._image_store import ImageStore, sniff_media_type
from hexgate.routes.images import _deliver
from hexgate.schemas.images import GeneratedImage, ImageGenerationRequest, ImagesResponse
from hexgate.testing import running_gateway

KEY = "sk-gateway-test-000"

PNG_SOURCE = """
import struct, zlib

def png(width, height, rgb):
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    raw = b"".join(b"\\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
"""

FAKE_PROVIDER = (
    PNG_SOURCE
    + '''
import base64, time
from hexgate_echo import EchoProvider
from hexgate.schemas.images import GeneratedImage, ImagesResponse

class Provider(EchoProvider):
    """Echo plus images: the first word of the prompt picks what comes back."""

    async def generate_image(self, request, ctx):
        word = request.prompt.split()[0]
        if word == "link":
            items = [GeneratedImage(url="https://images.example.test/a.png")]
        elif word == "garbage":
            items = [GeneratedImage(b64_json="@@not base64@@")]
        else:
            data = png(4, 4, (255, 0, 0) if word == "red" else (0, 255, 0))
            b64 = base64.b64encode(data).decode()
            revised = f"{ctx.model}: {request.prompt}"
            items = [GeneratedImage(b64_json=b64, revised_prompt=revised) for _ in range(request.count())]
        return ImagesResponse(created=int(time.time()), data=items, output_format="png")
'''
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """The same PNG the fake provider makes."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


RED = png(4, 4, (255, 0, 0))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("fake_images")
    (root / "fake_images_provider.py").write_text(textwrap.dedent(FAKE_PROVIDER), encoding="utf-8")
    config = f"""
[server]
api_keys = ["{KEY}"]

[providers.img]
plugin = "fake_images_provider:Provider"
models = ["painter"]

[providers.echo]
plugin = "echo"
"""
    with running_gateway(config, env={"PYTHONPATH": str(root)}) as base:
        yield base


@pytest.fixture(scope="module")
def client(gateway: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0) as c:
        yield c


@pytest.mark.e2e
def test_b64_json(client: openai.OpenAI) -> None:
    answer = client.images.generate(model="img/painter", prompt="red square", n=3, response_format="b64_json")
    assert answer.data is not None and len(answer.data) == 3
    for item in answer.data:
        assert item.url is None and item.b64_json is not None
        assert base64.b64decode(item.b64_json) == RED
        assert item.revised_prompt == "painter: red square"
    assert answer.output_format == "png"
    assert answer.created > 0


@pytest.mark.e2e
def test_default_format_is_b64_json(client: openai.OpenAI) -> None:
    answer = client.images.generate(model="img/painter", prompt="red square")
    assert answer.data is not None and answer.data[0].b64_json is not None
    assert base64.b64decode(answer.data[0].b64_json) == RED


@pytest.mark.e2e
def test_url_serves_the_same_bytes_without_the_gateway_key(client: openai.OpenAI, gateway: str) -> None:
    answer = client.images.generate(model="img/painter", prompt="red square", n=2, response_format="url")
    assert answer.data is not None
    urls = [item.url for item in answer.data]
    assert all(item.b64_json is None for item in answer.data)
    assert len(set(urls)) == 2
    for url in urls:
        assert url is not None and url.startswith(f"{gateway}/v1/images/files/img_") and url.endswith(".png")
        got = httpx.get(url)  # no Authorization header, as a browser's <img> would fetch it
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.content == RED


@pytest.mark.e2e
def test_upstream_link_passes_through_for_url_and_fails_for_b64(client: openai.OpenAI) -> None:
    answer = client.images.generate(model="img/painter", prompt="link please", response_format="url")
    assert answer.data is not None and answer.data[0].url == "https://images.example.test/a.png"
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="img/painter", prompt="link please", response_format="b64_json")
    assert caught.value.status_code == 502


@pytest.mark.e2e
def test_unreadable_base64_is_a_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="img/painter", prompt="garbage", response_format="url")
    assert caught.value.status_code == 502


@pytest.mark.e2e
def test_provider_without_images_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="echo/echo", prompt="red square")
    body = caught.value.body
    assert isinstance(body, dict)
    assert (body["code"], body["param"], body["type"]) == ("unsupported", "model", "invalid_request_error")
    assert "echo" in body["message"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"prompt": "red"}, 400, "model"),
        ({"model": "img/painter"}, 400, "prompt"),
        ({"model": "img/painter", "prompt": "  "}, 400, "prompt"),
        ({"model": "img/painter", "prompt": "red", "n": 0}, 400, "n"),
        ({"model": "img/painter", "prompt": "red", "n": 11}, 400, "n"),
        ({"model": "img/painter", "prompt": "red", "stream": True}, 400, "stream"),
        ({"model": "img/painter", "prompt": "red", "response_format": "png"}, 400, "response_format"),
        ({"model": "nowhere/painter", "prompt": "red"}, 404, "model"),
    ],
)
def test_bad_requests(gateway: str, body: dict[str, object], status: int, param: str) -> None:
    got = httpx.post(f"{gateway}/v1/images/generations", json=body, headers={"authorization": f"Bearer {KEY}"})
    assert got.status_code == status
    error = got.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


@pytest.mark.e2e
def test_generation_needs_the_key_and_unknown_files_are_404(gateway: str) -> None:
    denied = httpx.post(f"{gateway}/v1/images/generations", json={"model": "img/painter", "prompt": "red"})
    assert denied.status_code == 401
    missing = httpx.get(f"{gateway}/v1/images/files/img_nope.png")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.e2e
def test_openapi_documents_the_body(gateway: str) -> None:
    doc = httpx.get(f"{gateway}/schema/openapi.json").json()
    assert "ImageGenerationRequest" in doc["components"]["schemas"]
    body = doc["paths"]["/v1/images/generations"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/ImageGenerationRequest")


# ---------------------------------------------------------------- the store, without a server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_store_expires_images() -> None:
    clock = Clock()
    store = ImageStore(ttl=60, clock=clock)
    name = store.put(RED)
    assert name is not None and name.endswith(".png")
    image = store.get(name)
    assert image is not None and image.data == RED and image.media_type == "image/png"
    clock.now += 59
    assert store.get(name) is not None
    clock.now += 2
    assert store.get(name) is None
    assert len(store) == 0 and store.total_bytes == 0


def test_store_bounds_count_and_bytes_oldest_first() -> None:
    store = ImageStore(max_files=2, max_bytes=100, clock=Clock())
    a, b, c = store.put(b"a" * 40), store.put(b"b" * 40), store.put(b"c" * 40)
    assert a and b and c
    assert store.get(a) is None and store.get(b) is not None and store.get(c) is not None
    d = store.put(b"d" * 70)  # needs b and c gone to fit in 100 bytes
    assert d and store.get(b) is None and store.get(c) is None and store.get(d) is not None
    assert store.total_bytes == 70
    assert store.put(b"e" * 101) is None  # alone larger than the store
    assert store.get(d) is not None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (RED, ("image/png", "png")),
        (b"\xff\xd8\xff\xe0rest", ("image/jpeg", "jpg")),
        (b"GIF89a...", ("image/gif", "gif")),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ("image/webp", "webp")),
        (b'  <svg xmlns="http://www.w3.org/2000/svg"/>', ("image/svg+xml", "svg")),
        (b"plain bytes", ("application/octet-stream", "bin")),
    ],
)
def test_sniff(data: bytes, expected: tuple[str, str]) -> None:
    assert sniff_media_type(data) == expected


def test_deliver_falls_back_to_a_data_url_when_the_store_cannot_hold_it() -> None:
    b64 = base64.b64encode(RED).decode()
    result = ImagesResponse(created=1, data=[GeneratedImage(b64_json=b64)])
    _deliver(result, ImageGenerationRequest(prompt="p", response_format="url"), ImageStore(max_bytes=10), "http://gw")
    assert result.data[0].url == f"data:image/png;base64,{b64}"


def test_deliver_links_and_refuses_links_for_b64() -> None:
    store = ImageStore()
    b64 = base64.b64encode(RED).decode()
    result = ImagesResponse(created=1, data=[GeneratedImage(b64_json=b64)])
    _deliver(result, ImageGenerationRequest(prompt="p", response_format="url"), store, "http://gw")
    url = result.data[0].url
    assert isinstance(url, str) and url.startswith("http://gw/v1/images/files/")
    image = store.get(url.rpartition("/")[2])
    assert image is not None and image.data == RED
    linked = ImagesResponse(created=1, data=[GeneratedImage(url="https://elsewhere.test/x.png")])
    with pytest.raises(UpstreamError):
        _deliver(linked, ImageGenerationRequest(prompt="p"), store, "http://gw")
