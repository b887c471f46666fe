"""The provider by feature matrix (``docs/providers.md``) from the conformance suite's results.

Usage::

    pytest plugins/*/tests/test_conformance.py --hexgate-matrix=results.json
    python -m hexgate.testing.matrix results.json -o docs/providers.md

Each cell says what the tests saw: ``passes``, ``emulated (how)``, ``unsupported (reason)``,
``not tested (reason)`` or ``FAILS`` (any check of the feature failed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from hexgate.testing.conformance import FEATURES

__all__ = ["cell", "main", "render"]

HEADER = """# Providers and features

What each bundled provider does, as its conformance tests saw it
([`hexgate.testing.conformance`](../hexgate/testing/conformance.py), run against each plugin's stub upstream
or recorded captures). Generated; do not edit by hand. Regenerate with:

```sh
pytest plugins/*/tests/test_conformance.py --hexgate-matrix=results.json
python -m hexgate.testing.matrix results.json -o docs/providers.md
```

"""


def cell(results: Sequence[Mapping[str, str]]) -> str:
    """One provider by feature: the outcomes of its checks (``outcome``, ``status``, ``detail``)."""
    if not results:
        return "—"
    failed = [r for r in results if r["outcome"] == "failed"]
    if failed:
        return f"FAILS ({failed[0]['detail']})" if failed[0]["detail"] else "FAILS"
    skipped = [r for r in results if r["outcome"] == "skipped"]
    if skipped and len(skipped) == len(results):
        first = skipped[0]
        word = "unsupported" if first["status"] == "unsupported" else "not tested"
        return f"{word} ({first['detail']})" if first["detail"] else word
    how = next((r["detail"] for r in results if r["status"] == "emulated"), None)
    if skipped:  # some cases passed, others were skipped
        gaps = "; ".join(sorted({f"{r['test']}: {r['detail']}" for r in skipped}))
        return f"passes in part (not run: {gaps})"
    return f"emulated ({how})" if how else "passes"


def render(results: Iterable[Mapping[str, str]]) -> str:
    """The whole Markdown page: one row per feature, one column per provider (sorted by name); a
    cell's reason goes into a numbered note under the table."""
    by: dict[tuple[str, str], list[Mapping[str, str]]] = {}
    for r in results:
        by.setdefault((r["provider"], r["feature"]), []).append(r)
    providers = sorted({p for p, _ in by})
    notes: dict[str, int] = {}

    def short(text: str) -> str:
        word, sep, detail = text.partition(" (")
        if not sep:
            return word
        number = notes.setdefault(detail.removesuffix(")"), len(notes) + 1)
        return f"{word} [{number}]"

    lines = [
        "| feature | " + " | ".join(f"`{p}`" for p in providers) + " |",
        "|---|" + "---|" * len(providers),
    ]
    for feature, text in FEATURES.items():
        cells = [short(cell(by.get((p, feature), []))) for p in providers]
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    lines += ["", *(f"{n}. {detail.replace('|', '/')}" for detail, n in notes.items())]
    return HEADER + "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hexgate.testing.matrix", description=__doc__.split("\n")[0])
    parser.add_argument("results", help="the JSON file written by pytest --hexgate-matrix=PATH")
    parser.add_argument("-o", "--output", help="write the Markdown here (default: standard output)")
    parser.add_argument("--check", action="store_true", help="exit 1 when --output differs instead of writing")
    args = parser.parse_args(argv)
    page = render(json.loads(Path(args.results).read_text(encoding="utf-8"))["results"])
    if not args.output:
        sys.stdout.write(page)
        return 0
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != page:
            print(f"{out} is stale: regenerate it (see its header)", file=sys.stderr)
            return 1
        return 0
    out.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
