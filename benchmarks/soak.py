"""Soak: mixed streamed and non-streamed load through hexgate with injected upstream faults.

    uv run --no-sync python benchmarks/soak.py --minutes 10 [--concurrency 16] [--fault-rate 0.05]

Two scripted OpenAI-compatible upstreams (``hexgate.testing.StubUpstream``, reached through the
``openai`` plugin) sit behind one alias with both as targets. Each upstream request draws a fault
with probability ``--fault-rate``: 500, 503, 429 with ``retry-after-ms``, a stall before answering,
a stall mid-stream, a reset mid-stream, malformed JSON, a truncated chunk, an error event
mid-stream. hexgate runs as ``hexgate serve`` in its own process; the load generator counts what
the clients saw (answers, error statuses and types, stream error frames) and samples the gateway's
resident memory (VmRSS). The report: requests served, errors by kind, upstream requests, and RSS
at the start (after warm-up), middle and end, with the end-to-start ratio (flat means within 10%).

Not part of CI: it takes minutes and loads the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from hexgate.testing import RecordedRequest, Reply, StubUpstream, free_port

SSE = {"content-type": "text/event-stream", "connection": "keep-alive"}
JSON = {"content-type": "application/json"}
FAULTS = ("500", "503", "429", "stall", "stall_mid_stream", "reset", "malformed", "truncated", "error_event")


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-soak",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-soak",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "soak " * 20}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25},
    }
).encode()
_STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    *(_chunk({"content": f" word{i}"}) for i in range(20)),
    _chunk({}, "stop"),
    b"data: [DONE]\n\n",
]


class Upstream:
    """The scripted answers, with a fault drawn per request."""

    def __init__(self, fault_rate: float, seed: int) -> None:
        self.fault_rate = fault_rate
        self.random = random.Random(seed)
        self.faults: collections.Counter[str] = collections.Counter()
        self.requests = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        self.requests += 1
        stream = b'"stream": true' in request.body or b'"stream":true' in request.body
        fault = self.random.choice(FAULTS) if self.random.random() < self.fault_rate else None
        if fault is not None:
            self.faults[fault] += 1
        error = b'{"error": {"message": "injected", "type": "server_error", "code": null}}'
        if fault == "500":
            return Reply(500, error, headers=dict(JSON))
        if fault == "503":
            return Reply(503, error, headers=dict(JSON))
        if fault == "429":
            return Reply(429, error, headers={**JSON, "retry-after-ms": "20"})
        if fault == "stall":
            return Reply(200, _COMPLETION, headers=dict(JSON), stall=5)
        if fault == "malformed":
            return Reply(200, b'{"id": "x", "choices": [', headers=dict(JSON))
        if not stream:
            return Reply(200, _COMPLETION, headers=dict(JSON))
        if fault == "stall_mid_stream":
            return Reply(200, _STREAM[:5], headers=dict(SSE), hang=5)
        if fault == "reset":
            return Reply(200, _STREAM[:5], headers=dict(SSE), reset=True)
        if fault == "truncated":
            return Reply(200, [*_STREAM[:5], b'data: {"id": "chatcmpl-soak", "choi'], headers=dict(SSE))
        if fault == "error_event":
            return Reply(200, [*_STREAM[:5], b"data: " + error + b"\n\n"], headers=dict(SSE))
        return Reply(200, _STREAM, headers=dict(SSE), delay=0.005)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Tally:
    def __init__(self) -> None:
        self.served = 0
        self.streamed = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.attempts: collections.Counter[str] = collections.Counter()


async def _one(http: httpx.AsyncClient, tally: Tally, stream: bool) -> None:
    body = {"model": "soak", "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    try:
        if not stream:
            response = await http.post("/v1/chat/completions", json=body)
            tally.attempts[response.headers.get("x-hexgate-attempts", "?")] += 1
            if response.status_code == 200:
                response.json()["choices"][0]["message"]["content"]
                tally.served += 1
            else:
                kind = response.json()["error"]["type"]
                tally.errors[f"{response.status_code} {kind}"] += 1
            return
        async with http.stream("POST", "/v1/chat/completions", json=body) as response:
            tally.attempts[response.headers.get("x-hexgate-attempts", "?")] += 1
            if response.status_code != 200:
                kind = json.loads(await response.aread())["error"]["type"]
                tally.errors[f"{response.status_code} {kind}"] += 1
                return
            done = False
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith('data: {"error"'):
                    tally.errors[f"stream frame {json.loads(line[6:])['error']['type']}"] += 1
                    return
            if done:
                tally.served += 1
                tally.streamed += 1
            else:
                tally.errors["stream without [DONE]"] += 1
    except httpx.HTTPError as exc:
        tally.errors[f"client {type(exc).__name__} ({'stream' if stream else 'json'})"] += 1


async def _load(
    base: str, *, seconds: float, concurrency: int, pid: int, warmup: int, rps: float
) -> tuple[Tally, list[tuple[float, int]]]:
    tally = Tally()
    samples: list[tuple[float, int]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        for i in range(warmup):
            await _one(http, Tally(), stream=i % 2 == 0)
        start = time.monotonic()
        samples.append((0.0, _rss_kib(pid)))
        stop = start + seconds
        rng = random.Random(1)

        interval = concurrency / rps if rps > 0 else 0.0

        async def worker() -> None:
            while time.monotonic() < stop:
                began = time.monotonic()
                await _one(http, tally, stream=rng.random() < 0.5)
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))

        async def sampler() -> None:
            while time.monotonic() < stop:
                await asyncio.sleep(min(15.0, max(0.1, stop - time.monotonic())))
                samples.append((time.monotonic() - start, _rss_kib(pid)))
                print(
                    f"  t={samples[-1][0]:6.0f} s  served={tally.served}  errors={sum(tally.errors.values())}  "
                    f"rss={samples[-1][1] / 1024:.1f} MiB",
                    file=sys.stderr,
                    flush=True,
                )

        await asyncio.gather(sampler(), *(worker() for _ in range(concurrency)))
    return tally, samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--rps", type=float, default=40.0, help="at most this many requests a second (0: no limit)")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the first RSS sample")
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--server-log", help="keep the gateway's log here")
    args = parser.parse_args()

    ups = [Upstream(args.fault_rate, seed) for seed in (11, 12)]
    stubs = [StubUpstream({"POST /v1/chat/completions": u}) for u in ups]
    for stub in stubs:
        stub.start()
        # a keep-alive connection the gateway's pool drops is normal here; keep stderr for the progress lines
        stub._server.handle_error = lambda *_: None  # type: ignore[union-attr,method-assign]
    port = free_port()
    config = (
        "[routing]\nretries = 1\nbackoff = 0.02\nbackoff_max = 0.2\n"
        "[routing.timeouts]\nfirst_byte = 2\nidle = 1\ntotal = 20\n\n"
        + "".join(
            f'[providers.up{i}]\nplugin = "openai"\nbase_url = "{s.url}/v1"\napi_key = "test-key"\n'
            for i, s in enumerate(stubs)
        )
        + '\n[models.soak]\ntargets = ["up0/m", "up1/m"]\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.toml"
        path.write_text(config, encoding="utf-8")
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        cmd = [sys.executable, "-m", "hexgate.cli", "serve", "--config", str(path), "--port", str(port)]
        server = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("hexgate did not start:\n" + (Path(tmp) / "server.log").read_text())
                time.sleep(0.2)
            print(
                f"soak: {args.minutes:g} min, {args.concurrency} clients, {args.fault_rate:.0%} faults", file=sys.stderr
            )
            began = time.monotonic()
            tally, samples = asyncio.run(
                _load(
                    base,
                    seconds=args.minutes * 60,
                    concurrency=args.concurrency,
                    pid=server.pid,
                    warmup=args.warmup,
                    rps=args.rps,
                )
            )
            elapsed = time.monotonic() - began
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            if args.server_log:
                Path(args.server_log).write_bytes((Path(tmp) / "server.log").read_bytes())
            for stub in stubs:
                stub.stop()
    mid = min(samples, key=lambda s: abs(s[0] - samples[-1][0] / 2))
    start_rss, end_rss = samples[0][1], samples[-1][1]
    report = {
        "minutes": args.minutes,
        "rps_limit": args.rps,
        "concurrency": args.concurrency,
        "fault_rate": args.fault_rate,
        "requests_served": tally.served,
        "streamed_served": tally.streamed,
        "requests_per_second": round((tally.served + sum(tally.errors.values())) / max(elapsed, 1e-9), 1),
        "errors_by_kind": dict(tally.errors.most_common()),
        "x_hexgate_attempts": dict(sorted(tally.attempts.items())),
        "upstream_requests": sum(u.requests for u in ups),
        "upstream_faults_injected": dict(sum((u.faults for u in ups), collections.Counter()).most_common()),
        "rss_mib": {
            "start": round(start_rss / 1024, 1),
            "middle": round(mid[1] / 1024, 1),
            "end": round(end_rss / 1024, 1),
        },
        "rss_end_over_start": round(end_rss / start_rss, 3) if start_rss else None,
        "rss_timeline_mib": [(round(t), round(k / 1024, 1)) for t, k in samples],
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
