"""``hexgate serve | models | plugins | check | hash-key | new-plugin | keys | usage``.

Exit codes: 0 fine, 1 a provider check failed, 2 the config (or a plugin it uses) is unusable.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import sys
from collections.abc import Sequence

from hexgate import __version__
from hexgate.ops.cli import add_commands, prepare_serve
from hexgate.ops.service import preflight
from hexgate.plugins import discover
from hexgate.registry import build_registry
from hexgate.settings import ConfigError, Settings, load_settings

__all__ = ["main"]


def _settings(path: str | None) -> Settings:
    return load_settings(path or os.environ.get("HEXGATE_CONFIG") or None)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hexgate.ops.connections import HEADER_TIMEOUT_ENV, GuardedHttpToolsProtocol

    settings = _settings(args.config)
    asyncio.run(_preflight(settings))
    if args.config:
        os.environ["HEXGATE_CONFIG"] = os.path.abspath(args.config)
    os.environ[HEADER_TIMEOUT_ENV] = repr(settings.server.header_timeout)  # read by every worker's protocol
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):  # one INFO line per upstream request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ops_options, ops_cleanup = prepare_serve(settings, workers=args.workers)
    print(
        f"hexgate {__version__} on http://{host}:{port}/v1 (config: {settings.source}; "
        f"providers: {', '.join(sorted(settings.providers))})",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(
            "hexgate.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            loop="auto",
            http=GuardedHttpToolsProtocol,  # closes connections slow to send a request head (hexgate.ops.connections)
            timeout_keep_alive=settings.server.keepalive_timeout,
            access_log=args.access_log,
            log_level="info" if args.access_log else "warning",
            timeout_graceful_shutdown=30,
            timeout_worker_healthcheck=30,  # a worker loads every plugin before it is ready (uvicorn: 5 s)
            h11_max_incomplete_event_size=settings.server.max_header_size,
            **ops_options,
        )
    finally:
        ops_cleanup()
    return 0


async def _preflight(settings: Settings) -> None:
    """Load and build every configured provider without starting it, so a broken plugin or a bad
    table fails here with one clear line instead of a traceback from a worker."""
    preflight(settings)
    registry = await build_registry(settings, start=False)
    await registry.aclose()


def _models(args: argparse.Namespace) -> int:
    async def run() -> int:
        registry = await build_registry(_settings(args.config))
        try:
            for model in await registry.list_models():
                target = f"  -> {', '.join(model.alias_of)}" if model.alias_of else ""
                print(f"{model.id}{target}")
        finally:
            await registry.aclose()
        return 0

    return asyncio.run(run())


def _plugins(_: argparse.Namespace) -> int:
    plugins = discover()
    if not plugins:
        print("no hexgate plugins installed (install hexgate's wheels with the 'all' extra: README, Install with pip)")
        return 0
    width = max(len(p.name) for p in plugins)
    for p in plugins:
        print(f"{p.name:<{width}}  {p.distribution} {p.version}  ({p.value})")
    return 0


def _check(args: argparse.Namespace) -> int:
    async def run() -> int:
        settings = _settings(args.config)
        print(f"config {settings.source}: ok")
        registry = await build_registry(settings)
        failed = 0
        try:
            for pid, provider in registry.providers.items():
                try:
                    models = await asyncio.wait_for(provider.list_models(), 30)
                    print(f"provider {pid}: ok, {len(models)} model(s)")
                except Exception as exc:  # report every provider, then fail
                    failed += 1
                    detail = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                    print(f"provider {pid}: FAILED: {detail}")
        finally:
            await registry.aclose()
        return 1 if failed else 0

    return asyncio.run(run())


def _hash_key(args: argparse.Namespace) -> int:
    key = args.key if args.key is not None else sys.stdin.readline().strip()
    if not key:
        print("hexgate: no key given", file=sys.stderr)
        return 2
    print(f"sha256:{hashlib.sha256(key.encode()).hexdigest()}")
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hexgate.scaffold import ScaffoldError, write_plugin

    try:
        root = write_plugin(args.name, Path(args.dir))
    except ScaffoldError as exc:
        print(f"hexgate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root}\nnext: cd {root} && pip install -e '.[test]' && pytest")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hexgate", description="OpenAI-compatible gateway to every model provider.")
    parser.add_argument("--version", action="version", version=f"hexgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the gateway (embedded local model when no config is given)")
    serve.add_argument("--config", help="config.toml (default: $HEXGATE_CONFIG, else the embedded local provider)")
    serve.add_argument("--host", help="address to bind (default: server.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: server.port, 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=_serve)
    for name, func, text in (
        ("models", _models, "list every model the gateway serves"),
        ("check", _check, "validate the config and reach each provider's model list"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", help="config.toml (default: $HEXGATE_CONFIG)")
        p.set_defaults(func=func)
    sub.add_parser("plugins", help="installed provider plugins").set_defaults(func=_plugins)
    hash_key = sub.add_parser(
        "hash-key", help="print the sha256:<hex> form of a gateway key, for server.api_keys (key read from stdin)"
    )
    hash_key.add_argument("key", nargs="?", help="the key (default: one line from standard input)")
    hash_key.set_defaults(func=_hash_key)
    new_plugin = sub.add_parser(
        "new-plugin", help="write a new provider plugin distribution (with tests) to start from"
    )
    new_plugin.add_argument("name", help='the plugin\'s name: plugin = "NAME" in config, distribution hexgate-NAME')
    new_plugin.add_argument("--dir", default=".", help="where to create hexgate-NAME/ (default: here)")
    new_plugin.set_defaults(func=_new_plugin)
    add_commands(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"hexgate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
