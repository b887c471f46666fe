"""CPU per request of the hexgate app alone, without an HTTP server in front: A/B comparisons of the
app's own code paths (middleware, routes, plugins) with less noise than a wrk run.

The app is built from ``benchmarks/bench.toml`` (``MOCK_URL`` names the kit's nginx mock, default
``http://127.0.0.1:18080``), started through its lifespan, and driven with ASGI messages by
``--conns`` concurrent tasks. It reaches the mock over loopback as it does when served, so the
upstream client's work is counted; the server's (uvicorn's parsing and writing) is not. The figure
is the process's CPU time (``time.process_time``) divided by the requests answered, after a warm-up.

    MOCK_URL=http://127.0.0.1:18080 taskset -c 1 .venv/bin/python benchmarks/asgi_cost.py \
        --scenario chat --requests 20000 --conns 32

Prints one line: ``scenario conns requests cpu_us_per_req wall_rps``. Pin it to the core the mock
is not on. This is a benchmark tool, not a test; the kit's wrk runs (``compare.sh``) stay the
figures of record.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = b"sk-bench-5f1c9e2a7b3d4e6f8a9b0c1d2e3f4a5b"
BODIES = {
    "chat": (b"/v1/chat/completions", b'{"model":"mock-chat","messages":[{"role":"user","content":"hi"}]}'),
    "stream": (
        b"/v1/chat/completions",
        b'{"model":"mock-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}',
    ),
    "embed": (b"/v1/embeddings", b'{"model":"mock-embed","input":"hello"}'),
}


def _scope(path: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path.decode(),
        "raw_path": path,
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8300"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer " + KEY),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8300),
        "extensions": {"http.response.trailers": {}},
    }


async def _one(app: Any, path: bytes, body: bytes) -> int:
    sent = False
    status = 0
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(_scope(path), receive, send)
    done.set()
    return status


async def _drive(app: Any, scenario: str, requests: int, conns: int) -> int:
    path, body = BODIES[scenario]
    left = requests
    failed = 0

    async def worker() -> None:
        nonlocal left, failed
        while left > 0:
            left -= 1
            if await _one(app, path, body) != 200:
                failed += 1

    await asyncio.gather(*(worker() for _ in range(conns)))
    return failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(BODIES), default="chat")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() (hexgate serve freezes)")
    parser.add_argument(
        "--app", metavar="FILE:NAME", help="another Litestar app to drive instead (e.g. the kit's pass-through)"
    )
    args = parser.parse_args()
    os.environ.setdefault("MOCK_URL", "http://127.0.0.1:18080")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.app:
        file, _, name = args.app.partition(":")
        spec = importlib.util.spec_from_file_location("driven_app", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        app = getattr(module, name or "app")
    else:
        sys.path.insert(0, str(ROOT))
        from hexgate.app import create_app
        from hexgate.settings import load_settings

        app = create_app(load_settings(str(ROOT / "benchmarks" / "bench.toml")), settle_gc=not args.no_freeze)
    async with app.lifespan():
        failed = await _drive(app, args.scenario, args.warmup, args.conns)
        if failed:
            raise SystemExit(f"{failed} of the warm-up requests failed: is the mock at $MOCK_URL?")
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        failed = await _drive(app, args.scenario, args.requests, args.conns)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_request = cpu / args.requests * 1e6
    print(f"{args.scenario}\t{args.conns}\t{args.requests}\t{per_request:.1f}\t{args.requests / wall:.0f}")
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main())
