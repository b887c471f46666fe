"""Top frames of a py-spy profile in its raw (collapsed stacks) format.

    python3 benchmarks/pyspy_top.py profile.raw [--top 25] [--match hexgate,litestar,httpx,aiohttp] [--lines]

``py-spy record -f raw`` writes one line per distinct stack: ``frame;frame;...;frame COUNT``, each
frame ``function (file:line)``, outermost first. Prints the frames that were on top of the stack
most often (self samples: where the CPU time is spent), then the frames whose file is in one of the
--match packages ranked by inclusive samples (how much time runs under them). Frames are merged
across line numbers unless --lines is given. Standard library only.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def frame_key(frame: str, lines: bool) -> tuple[str, str]:
    """(shown name, file) of one raw frame; the line number dropped unless lines."""
    m = FRAME.match(frame)
    if not m:
        return frame, ""
    file = m["file"]
    if "site-packages/" in file:
        file = file.rsplit("site-packages/", 1)[1]
    name = f"{m['func']} ({file}:{m['line']})" if lines and m["line"] else f"{m['func']} ({file})"
    return name, file


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue  # not a stack line (e.g. a wrapped command line of a `process` root frame)
        frames = stack.split(";")
        frames = [f for f in frames if not f.startswith(("process ", "thread ("))]
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw", type=Path, help="py-spy record -f raw output")
    ap.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    ap.add_argument(
        "--match",
        default="hexgate,litestar,httpx,aiohttp",
        help="comma-separated package names for the inclusive table (a file matches when a path part starts with one)",
    )
    ap.add_argument("--lines", action="store_true", help="keep line numbers (frames not merged across lines)")
    ap.add_argument("--title", default="", help="a line printed first")
    a = ap.parse_args()

    stacks = parse(a.raw)
    total = sum(n for _, n in stacks)
    if a.title:
        print(a.title)
    print(f"{total} samples in {a.raw.name}")
    if not total:
        return 1
    prefixes = tuple(p.strip() for p in a.match.split(",") if p.strip())

    def wanted(file: str) -> bool:
        return any(part.startswith(prefixes) for part in file.split("/")[:-1])

    self_n: Counter[str] = Counter()
    incl_n: Counter[str] = Counter()
    for frames, n in stacks:
        keys = [frame_key(f, a.lines) for f in frames]
        self_n[keys[-1][0]] += n
        for name in {name for name, file in keys if wanted(file)}:  # once per stack: recursion counts once
            incl_n[name] += n

    def table(title: str, counts: Counter[str]) -> None:
        print(f"\n{title}")
        print(f"{'%':>6} {'samples':>8}  frame")
        for name, n in counts.most_common(a.top):
            print(f"{100 * n / total:6.1f} {n:8d}  {name}")

    table(f"top {a.top} self frames (on top of the stack)", self_n)
    table(f"top {a.top} inclusive frames in {', '.join(prefixes)}", incl_n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
