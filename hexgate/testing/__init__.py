"""Helpers for testing hexgate and its plugins, in-process or against real processes on 127.0.0.1.

In-process (no socket, no subprocess; the default for tests that check what a request gets):

- :func:`mock_client`: an ``httpx.AsyncClient`` on ``httpx.MockTransport``, to hand a provider as
  its ``http`` client and test it against a scripted handler.
- :func:`inprocess_gateway`: the gateway for a config as an ASGI app in this event loop, its lifespan
  run (the registry exists), behind an ``httpx.AsyncClient`` the official clients take as ``http_client``;
  :func:`inprocess_client` the same for synchronous tests (an ``httpx.Client``).

Real processes (for what only a running server shows: streaming pace, disconnects, the CLI):

- :func:`running_gateway`: ``hexgate serve`` as a subprocess with a given config, yielding its base URL.
- :func:`running_process`: any server as a subprocess, once a URL of it answers 200 (what
  :func:`running_gateway` uses; also for third-party servers a test puts behind the gateway).
- :func:`running_redis`: a throwaway redis-server on a free port, for ``[server] store``.
- :func:`worker_status` / :func:`wait_for_worker`: a model worker's state on ``GET /health`` (providers
  implementing ``WorkerProvider``), and waiting until it is ready again after a restart.
- :class:`StubUpstream`: a scripted HTTP upstream in a thread that records every request and
  notices when a client goes away mid-answer; replies can stream chunks with pauses.

Captures and streams:

- :class:`Captures`: a folder of recorded traffic (``../shared/fixtures`` formats) read back as
  lines, events, SSE frames or a stub :class:`Reply`.
- :func:`replay_frames`: turn a recorded capture back into SSE frames.
- :func:`check_stream`: the invariants every chat stream must keep, for plugin conformance tests.

Pytest plugins: :mod:`hexgate.testing.fixtures` (the ``stub``/``gateway``/``client`` trio and
``captures``) and :mod:`hexgate.testing.conformance` (the conformance suite); enable them with
``-p`` or ``pytest_plugins`` in the tests' root ``conftest.py``.

Plugin authors use these from their own tests; nothing here is imported by the gateway itself.
"""

from __future__ import annotations

from hexgate.testing._captures import Captures
from hexgate.testing._inprocess import (
    INPROCESS_BASE_URL,
    MockHandler,
    inprocess_client,
    inprocess_gateway,
    mock_client,
    settings_from_toml,
)
from hexgate.testing._process import (
    RunningRedis,
    free_port,
    running_gateway,
    running_process,
    running_redis,
    wait_for_worker,
    worker_status,
)
from hexgate.testing._streams import check_stream, replay_frames
from hexgate.testing._stub import Handler, RecordedRequest, Reply, StubUpstream

__all__ = [
    "INPROCESS_BASE_URL",
    "Captures",
    "Handler",
    "MockHandler",
    "RecordedRequest",
    "Reply",
    "RunningRedis",
    "StubUpstream",
    "check_stream",
    "free_port",
    "inprocess_client",
    "inprocess_gateway",
    "mock_client",
    "replay_frames",
    "running_gateway",
    "running_process",
    "running_redis",
    "settings_from_toml",
    "wait_for_worker",
    "worker_status",
]
