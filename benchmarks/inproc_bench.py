"""The embedded model in its worker process against the same model on a thread of this process.

    UV_NO_SYNC=1 uv run python benchmarks/inproc_bench.py [--runs 7] [--max-tokens 128] [--threads 1]

One run measures, side by side and interleaved (so load on the machine hits both alike):

- ``local`` (SmolLM2-135M-Instruct Q4_1, llama.cpp): time to first token and decode tokens/s of a
  streamed chat answer (seeded, so both paths generate the same tokens), in-process (the old thread
  path: :class:`hexgate.inproc.Jobs` on a thread of this process) and through
  :class:`hexgate.inproc.Supervisor` (the worker process the providers use);
- the IPC cost per token: a worker that sends 20,000 one-character pieces as fast as it can, each
  relayed as a ``chat.completion.chunk``, through the pipe against on a thread; the difference per
  piece is what the process boundary adds to each token, shown as a share of the model's token time;
  and the delay of pieces sent one per 20 ms (like tokens) from the sender to the chunk in the loop;
- memory: the worker process's RSS with both models loaded, and what loading them adds to this
  process's RSS on the thread path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from hexgate.inproc import Jobs, Outcome, Sink, Supervisor
from hexgate.inproc.worker import Text
from hexgate.schemas.chat import ChatCompletionChunk

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]
FLOOD = 20_000


class _Piece(msgspec.Struct, frozen=True):
    text: str
    finish_reason: str | None
    completion_tokens: int


class Flood:
    """A worker that only relays: ``flood`` sends ``int(args)`` one-character pieces, no model."""

    def __init__(self, config: bytes) -> None:
        pass

    def info(self) -> str:
        return ""

    def run(self, op: str, args: bytes, cancel: threading.Event, sink: Sink | None) -> Any:
        count = int(args)
        if sink is not None:
            for _ in range(count):
                if op == "paced":  # one piece every 20 ms, like tokens, stamped when sent
                    time.sleep(0.02)
                    sink(Text(0, str(time.monotonic_ns())))
                else:
                    sink(Text(0, "x"))
        return Outcome(prompt_tokens=0, generations=[_Piece("x" * count, "stop", count)])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def timed(chunks: AsyncIterator[ChatCompletionChunk]) -> tuple[float, float, int, str]:
    """(seconds to the first content piece, seconds from it to the last, completion tokens, text)."""
    start = time.perf_counter()
    first = last = 0.0
    parts: list[str] = []
    tokens = 0
    async for chunk in chunks:
        now = time.perf_counter()
        for choice in chunk.choices:
            if isinstance(choice.delta.content, str) and choice.delta.content:
                if not parts:
                    first = now
                parts.append(choice.delta.content)
                last = now
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return first - start, last - first, tokens, "".join(parts)


async def main(args: argparse.Namespace) -> None:
    from hexgate_local._worker import ChatJob, LocalWorker
    from hexgate_local.settings import LocalSettings
    from hexgate_local.translate import Sampling

    settings = LocalSettings(n_threads=args.threads)
    config = msgspec.msgpack.encode(settings)
    job = msgspec.msgpack.encode(
        ChatJob(
            messages=PROMPT,
            sampling=Sampling(temperature=0.0, seed=7, max_tokens=args.max_tokens),
            json=None,
            n=1,
        )
    )

    before = rss_kib(os.getpid())
    inproc = LocalWorker(config)
    inproc_rss = rss_kib(os.getpid()) - before
    jobs = Jobs(provider="bench")
    pool = ThreadPoolExecutor(max_workers=1)
    child = Supervisor(
        provider="bench", label="bench worker", target="hexgate_local._worker:LocalWorker", config=config
    )
    await child.start()
    child_pid = child.status().pid
    assert child_pid is not None

    def thread_stream(worker: Any, op: str, payload: bytes) -> AsyncIterator[ChatCompletionChunk]:
        return jobs.stream(pool, partial(worker.run, op, payload), model="m")

    results: dict[str, list[tuple[float, float, int, str]]] = {"in-process (thread)": [], "worker process": []}
    await timed(thread_stream(inproc, "chat", job))  # warm both
    await timed(child.stream("chat", job, model="m"))
    for i in range(args.runs):
        order = ["in-process (thread)", "worker process"] if i % 2 == 0 else ["worker process", "in-process (thread)"]
        for name in order:
            stream = (
                thread_stream(inproc, "chat", job) if name.startswith("in") else child.stream("chat", job, model="m")
            )
            results[name].append(await timed(stream))
    texts = {r[3] for rs in results.values() for r in rs}

    print(f"local chat: SmolLM2-135M Q4_1, n_threads={args.threads}, max_tokens={args.max_tokens}, {args.runs} runs")
    print("| path | TTFT median ms | decode tokens/s median | ms per token |")
    print("|---|---|---|---|")
    token_ms: dict[str, float] = {}
    for name, runs in results.items():
        ttft = statistics.median(r[0] for r in runs) * 1000
        rate = statistics.median((r[2] - 1) / r[1] for r in runs if r[1] > 0)
        token_ms[name] = 1000 / rate
        print(f"| {name} | {ttft:.1f} | {rate:.1f} | {1000 / rate:.2f} |")
    print(f"same text on both paths: {len(texts) == 1}")

    flood_child = Supervisor(provider="bench", label="flood worker", target="inproc_bench:Flood", config=b"")
    await flood_child.start()
    flood_thread = Flood(b"")
    per_piece: dict[str, list[float]] = {"thread": [], "process": []}
    payload = str(FLOOD).encode()
    for _ in range(3):
        for name in ("thread", "process"):
            stream = (
                thread_stream(flood_thread, "flood", payload)
                if name == "thread"
                else flood_child.stream("flood", payload, model="m")
            )
            start = time.perf_counter()
            async for _chunk in stream:
                pass
            per_piece[name].append((time.perf_counter() - start) / FLOOD * 1e6)
    delays: dict[str, list[float]] = {"thread": [], "process": []}
    for name in ("thread", "process"):
        stream = (
            thread_stream(flood_thread, "paced", b"150")
            if name == "thread"
            else flood_child.stream("paced", b"150", model="m")
        )
        async for chunk in stream:
            arrived = time.monotonic_ns()
            for choice in chunk.choices:
                if isinstance(choice.delta.content, str) and choice.delta.content:
                    delays[name].append((arrived - int(choice.delta.content)) / 1000)
    for name, values in delays.items():
        print(
            f"paced pieces (one per 20 ms), sent → chunk in the loop, {name}: median "
            f"{statistics.median(values):.0f} µs, p90 {statistics.quantiles(values, n=10)[-1]:.0f} µs"
        )
    thread_us, process_us = min(per_piece["thread"]), min(per_piece["process"])
    ipc_us = max(0.0, process_us - thread_us)
    share = ipc_us / 1000 / token_ms["worker process"] * 100
    print(f"relay per piece: thread {thread_us:.1f} µs, worker process {process_us:.1f} µs")
    print(f"IPC cost per token: {ipc_us:.1f} µs = {share:.2f}% of the model's token time")
    print(f"memory: worker process RSS {rss_kib(child_pid) / 1024:.0f} MiB (both models loaded);")
    print(f"        loading them on the thread path added {inproc_rss / 1024:.0f} MiB to this process")
    await child.aclose()
    await flood_child.aclose()
    pool.shutdown()
    inproc.engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
