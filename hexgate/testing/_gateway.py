"""A real gateway for one conformance :class:`~hexgate.testing._target.Target`: uvicorn on 127.0.0.1
in a thread, the official ``openai`` client in front, every log line kept."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import uvicorn

from hexgate.testing import free_port
from hexgate.testing._target import Target

__all__ = ["Gateway", "config_for", "serve"]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} into TOML")


def config_for(target: Target) -> str:
    """The gateway config (TOML) that serves ``target`` alone: no retries, no circuit breaking."""
    lines = [
        "[routing]",
        "retries = 0",
        "failure_threshold = 1000000",
        f"[providers.{target.name}]",
        f"plugin = {_toml(target.plugin())}",
        f"timeouts = {_toml(dict(target.timeouts))}",
        *(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in target.settings.items()),
    ]
    return "\n".join(lines) + "\n"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


@dataclass
class Gateway:
    """A running gateway: its OpenAI base URL, a client, and every log line it wrote."""

    base_url: str
    client: openai.OpenAI
    logs: list[str]


@contextlib.contextmanager
def serve(target: Target) -> Iterator[Gateway]:
    """hexgate serving ``target`` under uvicorn in a thread on 127.0.0.1, logging at INFO into
    :attr:`Gateway.logs`. Raises RuntimeError when it does not start within 60 s."""
    from hexgate.app import create_app
    from hexgate.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config_for(target), encoding="utf-8")
        app = create_app(load_settings(path, env={}))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="info", log_config=None, lifespan="on", access_log=False
        )
    )
    handler = _Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    thread = threading.Thread(target=server.run, name=f"hexgate-conformance-{target.name}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway for {target.name!r} did not start:\n" + "\n".join(handler.lines))
            time.sleep(0.01)
        base = f"http://127.0.0.1:{port}/v1"
        with openai.OpenAI(base_url=base, api_key="conformance", max_retries=0, timeout=60.0) as client:
            yield Gateway(base, client, handler.lines)
    finally:
        server.should_exit = True
        thread.join(30)
        root.removeHandler(handler)
        root.setLevel(level)
