"""``hexgate new-plugin NAME``: write a complete, installable provider plugin distribution.

The templates (``templates/``, package data) are a working plugin for a small JSON upstream
(``POST <base_url>/generate``, drawn in the generated ``wire.py``): the three rooms
(``provider.py`` I/O, ``translate.py`` pure, ``wire.py`` types), ``settings.py``, a README with its
settings table, and tests that run :mod:`hexgate.testing.conformance` against a stub upstream. As
written it passes its own tests, ``ruff`` and ``mypy --strict``; the author then replaces the
upstream format with their own.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from hexgate.protocol import PROTOCOL_VERSION

__all__ = ["ScaffoldError", "names", "write_plugin"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class ScaffoldError(Exception):
    """The name is not usable, or the target directory already exists."""


def names(name: str) -> dict[str, str]:
    """The placeholders for plugin ``name`` (``acme-ai``): ``__NAME__`` (entry point, ``acme-ai``),
    ``__DIST__`` (``hexgate-acme-ai``), ``__PKG__`` (``hexgate_acme_ai``), ``__CLS__``
    (``AcmeAiProvider``), ``__PROTOCOL__`` (this hexgate's ``PROTOCOL_VERSION``).
    Raises :class:`ScaffoldError` for a name that is not lowercase letters, digits, ``-`` or ``_``."""
    if not _NAME.match(name):
        raise ScaffoldError(f"plugin name {name!r}: use lowercase letters, digits, '-' or '_', starting with a letter")
    parts = re.split(r"[-_]", name)
    return {
        "__NAME__": name,
        "__DIST__": "hexgate-" + "-".join(parts),
        "__PKG__": "hexgate_" + "_".join(parts),
        "__CLS__": "".join(p.capitalize() for p in parts) + "Provider",
        "__PROTOCOL__": str(PROTOCOL_VERSION),
    }


def _walk(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        rel = f"{prefix}{child.name}"
        out += _walk(child, rel + "/") if child.is_dir() else [(rel, child)]
    return out


def write_plugin(name: str, directory: Path) -> Path:
    """Write the distribution for ``name`` into ``directory / <dist name>`` and return that path.
    Raises :class:`ScaffoldError` when the name is bad or the path exists."""
    subs = names(name)
    root = directory / subs["__DIST__"]
    if root.exists():
        raise ScaffoldError(f"{root} already exists")
    for rel, source in _walk(files(__package__) / "templates"):
        text = source.read_text(encoding="utf-8")
        rel = rel.removesuffix(".tmpl")
        for key, value in subs.items():
            text, rel = text.replace(key, value), rel.replace(key, value)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root
