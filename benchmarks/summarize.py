"""Markdown summary of one overhead comparison (benchmarks/compare.sh): the kit's table and the goals.

    python3 benchmarks/summarize.py bench-results/<run>/results.tsv --kit ../shared/bench [--conns 32]

Reads the results TSV the kit's run.sh writes (one row per wrk run: mode, scenario, conns, rep, rps,
p50_ms, ..., gw_cpu_us_per_req, ...) and its ``.streams.tsv`` (mode, probe, result: the
``STREAM_RESULT k=v ...`` line of stream_probe.py). Prints the kit's own table (``report.py --md``)
and a goals table at one connection count (32 by default), each goal with pass or fail:

- CPU µs per request, hexgate ÷ the pass-through on httpx-aiohttp: chat and embeddings ≤ 1.1,
  stream ≤ 1.5;
- chat requests/s, hexgate ÷ LiteLLM ≥ 20 (when LiteLLM ran);
- time to the first stream event (p50), hexgate - the pass-through ≤ 0.5 ms;
- gaps between stream events, hexgate against direct: p50 and p99 each within 2 ms of direct's
  (every event relayed as it arrives, the last one included);
- chat requests/s with two workers on two cores ÷ one worker on one core ≥ 1.8, beside the same
  ratio for the pass-through (two uvicorn workers), the yardstick of what the machine allows: when
  the mock and wrk share the two cores, the ratio is bounded near 2c/(c+m), c the gateway's CPU per
  request and m the mock's, wrk's and the kernel's, whatever the gateway does (benchmarks/README.md).

Repeats are folded into their median. Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

Row = dict[str, str]


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def wrk_figure(rows: list[Row], mode: str, scenario: str, conns: int, column: str) -> float | None:
    """Median of one column over the repeats of (mode, scenario, conns)."""
    vals = [
        float(r[column])
        for r in rows
        if r["mode"] == mode and r["scenario"] == scenario and int(r["conns"]) == conns and r.get(column)
    ]
    return median(vals)


def stream_figure(srows: list[Row], mode: str, probe: str, key: str) -> float | None:
    """Median of one STREAM_RESULT field over the probes of a mode (only probes that completed)."""
    vals = []
    for r in srows:
        if r["mode"] != mode or r["probe"] != probe:
            continue
        kv = dict(x.split("=", 1) for x in r["result"].split() if "=" in x)
        try:
            if int(kv.get("ok", "0")) > 0 and key in kv:
                vals.append(float(kv[key]))
        except ValueError:
            continue
    return median(vals)


def fmt(x: float | None, nd: int = 0, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:,.{nd}f}{unit}"


def read_tsv(path: Path) -> list[Row]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def goals(rows: list[Row], srows: list[Row], c: int, names: argparse.Namespace) -> list[list[str]]:
    hg, pt, ll, w2, pt2 = names.gateway, names.passthrough, names.litellm, names.scaled, names.scaled_passthrough
    out: list[list[str]] = []

    def verdict(value: float | None, ok: Callable[[float], bool], missing: str) -> str:
        if value is None:
            return missing
        return "**pass**" if ok(value) else "**fail**"

    for scen, label, goal in (
        ("chat", "chat", 1.1),
        ("embed", "embeddings", 1.1),
        ("stream", "stream (50 events)", 1.5),
    ):
        a = wrk_figure(rows, hg, scen, c, "gw_cpu_us_per_req")
        b = wrk_figure(rows, pt, scen, c, "gw_cpu_us_per_req")
        ratio = a / b if a is not None and b else None
        out.append(
            [
                f"CPU µs/req, {label}: hexgate ÷ pass-through",
                f"{fmt(a)} ÷ {fmt(b)}",
                fmt(ratio, 2, "x"),
                f"≤ {goal}x",
                verdict(ratio, lambda r, g=goal: r <= g, "not measured"),
            ]
        )

    a = wrk_figure(rows, hg, "chat", c, "rps")
    b = wrk_figure(rows, ll, "chat", c, "rps")
    ratio = a / b if a is not None and b else None
    ran = any(r["mode"] == ll for r in rows)
    out.append(
        [
            "chat rps: hexgate ÷ LiteLLM",
            f"{fmt(a)} ÷ {fmt(b)}",
            fmt(ratio, 1, "x"),
            "≥ 20x",
            verdict(ratio, lambda r: r >= 20, "not measured" if ran else "LiteLLM not run"),
        ]
    )

    a = stream_figure(srows, hg, "ttfb", "ttfb_p50_ms")
    b = stream_figure(srows, pt, "ttfb", "ttfb_p50_ms")
    diff = a - b if a is not None and b is not None else None
    out.append(
        [
            "first stream event p50 (paced): hexgate - pass-through",
            f"{fmt(a, 2)} - {fmt(b, 2)} ms",
            fmt(diff, 2, " ms"),
            "≤ 0.5 ms",
            verdict(diff, lambda d: d <= 0.5, "not measured"),
        ]
    )

    g50, g99 = stream_figure(srows, hg, "ttfb", "gap_p50_ms"), stream_figure(srows, hg, "ttfb", "gap_p99_ms")
    d50, d99 = (
        stream_figure(srows, "direct", "ttfb", "gap_p50_ms"),
        stream_figure(srows, "direct", "ttfb", "gap_p99_ms"),
    )
    diffs = [abs(g - d) for g, d in ((g50, d50), (g99, d99)) if g is not None and d is not None]
    diff = max(diffs) if len(diffs) == 2 else None
    out.append(
        [
            "gap between stream events p50 / p99: hexgate vs direct",
            f"{fmt(g50, 1)} / {fmt(g99, 1)} vs {fmt(d50, 1)} / {fmt(d99, 1)} ms",
            f"at most {fmt(diff, 1, ' ms')} apart" if diff is not None else "—",
            "p50 and p99 within 2 ms of direct's",
            verdict(diff, lambda d: d <= 2.0, "not measured"),
        ]
    )

    a = wrk_figure(rows, pt2, "chat", c, "rps")
    b = wrk_figure(rows, pt, "chat", c, "rps")
    yardstick = a / b if a is not None and b else None
    if yardstick is not None:
        out.append(
            [
                "yardstick: pass-through 2 workers (2 cores) ÷ 1 worker (1 core)",
                f"{fmt(a)} ÷ {fmt(b)}",
                fmt(yardstick, 2, "x"),
                "what this machine allows",
                "reference",
            ]
        )
    a = wrk_figure(rows, w2, "chat", c, "rps")
    b = wrk_figure(rows, hg, "chat", c, "rps")
    ratio = a / b if a is not None and b else None
    result = verdict(ratio, lambda r: r >= 1.8, "not measured")
    if ratio is not None and ratio < 1.8 and yardstick is not None and yardstick < 1.8:
        result += f" (the pass-through: {yardstick:.2f}x on this machine)"
    out.append(
        [
            "chat rps: hexgate 2 workers (2 cores) ÷ 1 worker (1 core)",
            f"{fmt(a)} ÷ {fmt(b)}",
            fmt(ratio, 2, "x"),
            "≥ 1.8x",
            result,
        ]
    )
    return out


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tsv", type=Path, help="results TSV written by the kit's run.sh")
    ap.add_argument("--kit", type=Path, help="the overhead kit's folder (for report.py); table left out without it")
    ap.add_argument("--conns", type=int, default=32, help="connection count the goals are read at (default 32)")
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE line for the header (repeatable)")
    ap.add_argument("--gateway", default="hexgate", help="mode name of hexgate with one worker")
    ap.add_argument("--passthrough", default="passthrough", help="mode name of the httpx-aiohttp pass-through")
    ap.add_argument("--litellm", default="litellm", help="mode name of LiteLLM")
    ap.add_argument("--scaled", default="hexgate-w2", help="mode name of hexgate with two workers")
    ap.add_argument(
        "--scaled-passthrough", default="passthrough-w2", help="mode name of the pass-through with two workers"
    )
    a = ap.parse_args()

    rows = read_tsv(a.tsv)
    srows = read_tsv(a.tsv.with_name(a.tsv.name.removesuffix(".tsv") + ".streams.tsv"))
    print("# hexgate overhead comparison\n")
    for m in a.meta:
        key, _, value = m.partition("=")
        print(f"- {key}: {value}")
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    print(f"- modes measured: {', '.join(modes) if modes else 'none'}")
    print()
    if a.kit:
        rep = subprocess.run(
            [sys.executable, str(a.kit / "report.py"), str(a.tsv), "--md"], capture_output=True, text=True, check=False
        )
        print("## The kit's table (report.py --md)\n")
        print(rep.stdout.rstrip() if rep.returncode == 0 else f"report.py failed: {rep.stderr.strip()}")
        print()
    print(f"## Goals at {a.conns} connections\n")
    print(md_table(["what", "figures", "value", "goal", "result"], goals(rows, srows, a.conns, a)))
    print()
    print(
        "CPU µs/req is the gateway's process-tree CPU time per request (the steadiest figure on a shared "
        "machine); pass-through = the kit's Litestar + msgspec pass-through on httpx-aiohttp, hexgate's "
        "transport. Read `bg_on_gw_core%` in the table before trusting a difference."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
