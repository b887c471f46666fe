"""``hexgate keys create | list | revoke`` and ``hexgate usage``, and what ``hexgate serve`` needs from ops.

The commands reach the keys in one of two ways:

- ``--url http://gateway:8000`` (or ``HEXGATE_URL``): through a running gateway's admin API, with the
  admin key from ``--admin-key``, ``HEXGATE_ADMIN_KEY`` or the config's ``server.admin_key``;
- otherwise straight in the store of ``--config`` (``server.store``), which must then be Redis: a
  ``memory`` store lives inside the gateway process.

``keys create`` prints the key alone on standard output (``KEY=$(hexgate keys create --name ci)``)
and its record on standard error; hexgate keeps only the key's hash, so this is the only time it
is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.config
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import msgspec

from hexgate.ops.keys import KeyRing, KeySpec, parse_duration, parse_expiry
from hexgate.ops.limits import NANOS, Limiter
from hexgate.ops.state import open_backend
from hexgate.ops.usage import UsageBook
from hexgate.settings import REASONING_FORMATS, ConfigError, Settings, load_settings

__all__ = ["add_commands", "prepare_serve"]

log = logging.getLogger("hexgate")


def prepare_serve(settings: Settings, *, workers: int) -> tuple[dict[str, Any], Callable[[], None]]:
    """Extra ``uvicorn.run`` arguments for ``settings`` and a cleanup to call after it: the log format
    (text or JSON) in every worker; with several workers, prometheus-client's multiprocess directory (a fresh one unless
    ``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    from hexgate.ops.logs import log_config
    from hexgate.ops.metrics import available

    extra: dict[str, Any] = {}
    cleanups: list[Callable[[], None]] = []
    config = log_config(settings.server.log_format)  # text lines escape what clients chose (hexgate.ops.logs)
    logging.config.dictConfig(config)
    extra["log_config"] = config
    if workers > 1 and settings.telemetry.metrics and available() and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="hexgate-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        cleanups.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    if workers > 1 and settings.server.store == "memory" and settings.server.admin_key:
        log.warning(
            "server.store is 'memory' with %d workers: each worker keeps its own keys, limits and usage; "
            "use a redis:// store to share them",
            workers,
        )

    def cleanup() -> None:
        for step in cleanups:
            step()

    return extra, cleanup


# -- the commands ---------------------------------------------------------------------------------


class _Failed(Exception):
    """A command that cannot go on; the message is for the user."""


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


class _Remote:
    """The admin API of a running gateway."""

    def __init__(self, url: str, admin_key: str | None) -> None:
        if not admin_key:
            raise _Failed("no admin key: pass --admin-key or set HEXGATE_ADMIN_KEY")
        self._url = url.rstrip("/")
        self._headers = {"authorization": f"Bearer {admin_key}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with httpx.Client(base_url=self._url, headers=self._headers, timeout=30) as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise _Failed(f"cannot reach the gateway: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise _Failed(f"{response.status_code}: {message}")
        return response.json()


def _target(args: argparse.Namespace) -> tuple[_Remote | None, Settings | None]:
    url = args.url or os.environ.get("HEXGATE_URL")
    path = args.config or os.environ.get("HEXGATE_CONFIG")
    settings = load_settings(path) if path else None
    if url:
        admin_key = args.admin_key or os.environ.get("HEXGATE_ADMIN_KEY")
        if not admin_key and settings is not None:
            admin_key = settings.server.admin_key
        return _Remote(url, admin_key), None
    if settings is None:
        raise _Failed("say where the keys are: --url <gateway> (its admin API) or --config <config.toml> (its store)")
    if settings.server.store == "memory":
        raise _Failed(
            f"{settings.source}: server.store is 'memory', which lives inside the running gateway: "
            "pass --url http://<host>:<port> to use its admin API"
        )
    return None, settings


async def _local(settings: Settings, work: Callable[[KeyRing, Limiter, UsageBook], Any]) -> Any:
    try:
        backend = open_backend(settings.server.store, timeout=settings.server.store_timeout)
    except ValueError as exc:
        raise ConfigError(f"{settings.source}: {exc}") from None
    try:
        return await work(KeyRing(backend), Limiter(backend), UsageBook(backend))
    finally:
        await backend.aclose()


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M") if epoch else "-"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _keys_create(args: argparse.Namespace) -> int:
    try:
        if args.period:
            parse_duration(args.period)
        if args.expires:
            parse_expiry(args.expires)
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    spec = KeySpec(
        name=args.name,
        models=_csv(args.models),
        rpm=args.rpm,
        tpm=args.tpm,
        budget=args.budget,
        period=args.period,
        expires=args.expires,
        reasoning_format=args.reasoning_format,
    )
    remote, settings = _target(args)
    if remote is not None:
        created = remote.call("POST", "/admin/keys", content=msgspec.json.encode(spec))
    else:
        assert settings is not None

        async def work(keys: KeyRing, *_: Any) -> Any:
            try:
                token, record = await keys.create(spec)
            except ValueError as exc:
                raise _Failed(str(exc)) from None
            return {**msgspec.to_builtins(record), "key": token}

        created = asyncio.run(_local(settings, work))
    key = created.pop("key")
    if args.json:
        print(json.dumps({**created, "key": key}))
        return 0
    print(key)
    limits = ", ".join(f"{name} {created[name]}" for name in ("rpm", "tpm") if created.get(name)) or "no rate limits"
    budget = f"${created['budget']:g}" if created.get("budget") is not None else "no budget"
    if created.get("budget") is not None and created.get("period_seconds"):
        budget += f" per {args.period}"
    print(
        f"{created['id']} ({created['name']}): models {', '.join(created['models']) or 'any'}; {limits}; {budget}; "
        f"expires {_when(created.get('expires_at'))}. The key is shown only now: hexgate keeps its hash.",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    remote, settings = _target(args)
    if remote is not None:
        keys = remote.call("GET", "/admin/keys")["data"]
    else:
        assert settings is not None

        async def work(ring: KeyRing, limiter: Limiter, _: UsageBook) -> Any:
            out = []
            for k in await ring.list():
                figures = await limiter.status(k)
                out.append({**msgspec.to_builtins(k), "spent": figures.spent / NANOS})
            return out

        keys = asyncio.run(_local(settings, work))
    if args.json:
        print(json.dumps(keys))
        return 0
    now = time.time()
    rows = [["ID", "NAME", "STATE", "MODELS", "RPM", "TPM", "BUDGET", "SPENT", "EXPIRES", "KEY"]]
    for k in keys:
        state = "revoked" if k.get("revoked_at") else "expired" if (k.get("expires_at") or now + 1) <= now else "active"
        rows.append(
            [
                k["id"],
                k["name"],
                state,
                ",".join(k.get("models") or []) or "*",
                str(k.get("rpm") or "-"),
                str(k.get("tpm") or "-"),
                "-" if k.get("budget") is None else f"${k['budget']:g}",
                f"${k.get('spent', 0):.6f}".rstrip("0").rstrip("."),
                _when(k.get("expires_at")),
                k.get("hint", ""),
            ]
        )
    print(_table(rows))
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    remote, settings = _target(args)
    if remote is not None:
        record = remote.call("DELETE", f"/admin/keys/{args.key_id}")
    else:
        assert settings is not None

        async def work(ring: KeyRing, *_: Any) -> Any:
            found = await ring.revoke(args.key_id)
            if found is None:
                raise _Failed(f"no key {args.key_id!r}")
            return msgspec.to_builtins(found)

        record = asyncio.run(_local(settings, work))
    print(f"{record['id']} ({record['name']}) revoked at {_when(record['revoked_at'])} UTC")
    return 0


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Failed(f"{text!r} is not a date like 2025-06-01") from None


def _usage(args: argparse.Namespace) -> int:
    since, until = _day(args.since), _day(args.until)
    remote, settings = _target(args)
    if remote is not None:
        params = {k: v for k, v in (("key", args.key), ("since", args.since), ("until", args.until)) if v}
        rows = remote.call("GET", "/v1/usage", params=params)["data"]
    else:
        assert settings is not None

        async def work(ring: KeyRing, _: Limiter, book: UsageBook) -> Any:
            report = await book.report(key_id=args.key, since=since, until=until)
            names = {k.id: k.name for k in await ring.list()}
            for row in report.data:
                row.key_name = names.get(row.key_id)
            return msgspec.to_builtins(report.data)

        rows = asyncio.run(_local(settings, work))
    if args.json:
        print(json.dumps(rows))
        return 0
    table = [["KEY", "NAME", "MODEL", "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "COST"]]
    for r in rows:
        table.append(
            [
                r["key_id"],
                r.get("key_name") or "-",
                r["model"],
                str(r["requests"]),
                str(r["errors"]),
                str(r["input_tokens"]),
                str(r["output_tokens"]),
                f"${r['cost']:.6f}",
            ]
        )
    print(_table(table) if rows else "no usage recorded")
    return 0


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except _Failed as exc:
            print(f"hexgate: {exc}", file=sys.stderr)
            return 1

    return run


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config.toml whose server.store holds the keys (default: $HEXGATE_CONFIG)")
    parser.add_argument("--url", help="a running gateway's base URL, to use its admin API (default: $HEXGATE_URL)")
    parser.add_argument("--admin-key", help="with --url: the admin key (default: $HEXGATE_ADMIN_KEY, server.admin_key)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_commands(sub: Any) -> None:
    """Add ``keys`` and ``usage`` to the ``hexgate`` command's subparsers."""
    keys = sub.add_parser("keys", help="virtual keys: create, list, revoke")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument("--models", action="append", help="allowed model names or aliases, comma-separated; * ok")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--budget", type=float, help="US dollars per period (prices from [prices])")
    create.add_argument("--period", help="the budget's period: 1d, 30d… (default: never renews)")
    create.add_argument("--expires", help="a duration (90d) or an ISO date (2026-01-31)")
    create.add_argument("--reasoning-format", choices=REASONING_FORMATS, help="where chat answers carry reasoning")
    _where(create)
    create.set_defaults(func=_guarded(_keys_create))
    listing = actions.add_parser("list", help="every key with its limits and spend")
    _where(listing)
    listing.set_defaults(func=_guarded(_keys_list))
    revoke = actions.add_parser("revoke", help="revoke a key (every replica within a second)")
    revoke.add_argument("key_id", help="the key's id (key_…)")
    _where(revoke)
    revoke.set_defaults(func=_guarded(_keys_revoke))
    usage = sub.add_parser("usage", help="usage per key, provider and model: requests, tokens, cost")
    usage.add_argument("--key", help="one key id")
    usage.add_argument("--since", help="first UTC day, YYYY-MM-DD")
    usage.add_argument("--until", help="last UTC day, YYYY-MM-DD")
    _where(usage)
    usage.set_defaults(func=_guarded(_usage))
