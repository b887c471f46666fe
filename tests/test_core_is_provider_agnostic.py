"""ARCHITECTURE.md, "No provider names in the core": hexgate/ never names an upstream in code and
never imports a plugin; upstream quirks live in their plugins. Comments and docstrings may cite
upstream docs."""

from __future__ import annotations

import ast
from pathlib import Path

import hexgate

UPSTREAMS = (
    "anthropic",
    "claude",
    "gemini",
    "google",
    "deepseek",
    "minimax",
    "ollama",
    "vllm",
    "mistral",
    "gradio",
    "puter",
    "hexin",
    "hithink",
    "huggingface",
    "llama",
    "smollm",
    "minilm",
)


def _code_words(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {  # module, class, function and attribute docstrings: bare string statements
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    words: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, ast.alias):
            words.append((node.lineno, f"import:{node.name}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append((node.lineno, node.value))
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.append((node.lineno, f"import:{node.module}"))
    return words


def test_core_code_names_no_upstream_and_imports_no_plugin() -> None:
    root = Path(hexgate.__file__).parent
    leaks = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, word in _code_words(tree):
            lowered = word.lower()
            if lowered.startswith("import:hexgate_") or any(name in lowered for name in UPSTREAMS):
                leaks.append(f"{path.relative_to(root.parent)}:{line}: {word[:60]!r}")
    assert not leaks, "provider names in the core:\n" + "\n".join(leaks)
