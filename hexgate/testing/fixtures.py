"""A pytest plugin: the fixtures a provider's gateway tests need, so that no conftest copies them.

Enable it with ``-p hexgate.testing.fixtures`` (hexgate's own ``addopts`` do) or
``pytest_plugins = ["hexgate.testing.fixtures"]`` in the tests' root ``conftest.py``. It gives:

- ``stub`` (session): a :class:`~hexgate.testing.StubUpstream` on 127.0.0.1, the upstream stand-in.
- ``gateway``: ``hexgate serve`` (:func:`~hexgate.testing.running_gateway`) with the TOML of
  ``gateway_config`` and the variables of ``gateway_env``; its value is the base URL. One process
  serves every test in a row that asks for the same config (a session-scoped ``gateway`` would hand
  every conftest's tests the first config's process).
- ``client`` (each test): the official ``openai.OpenAI`` client in front of ``gateway``
  (``max_retries=0``, 30 s timeout); the stub starts each test empty (:meth:`StubUpstream.reset`).
- ``captures`` (each test): :class:`~hexgate.testing.Captures` over the ``fixtures/`` folder beside
  the test file; override it with a subclass for a plugin's naming.

Your ``conftest.py`` supplies the config, pointing the provider at the stub::

    @pytest.fixture(scope="session")
    def gateway_config(stub: StubUpstream) -> str:
        return f'[providers.acme]\\nplugin = "acme"\\nbase_url = "{stub.url}"\\napi_key = "${{ACME_KEY}}"\\n'

    @pytest.fixture(scope="session")
    def gateway_env() -> dict[str, str]:
        return {"ACME_KEY": "test-key"}

and a test reads ``client.chat.completions.create(model="acme/m", ...)`` after setting
``stub.routes``. A test that needs no process uses :func:`~hexgate.testing.inprocess_gateway`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from hexgate.testing._captures import Captures
from hexgate.testing._process import running_gateway
from hexgate.testing._stub import StubUpstream

__all__ = ["captures", "client", "gateway", "gateway_config", "gateway_env", "stub"]


@pytest.fixture(scope="session")
def stub() -> Iterator[StubUpstream]:
    """The upstream stand-in on 127.0.0.1, shared by the session; tests set ``stub.routes``."""
    with StubUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="session")
def gateway_config() -> str:
    """The gateway's config (TOML text); a conftest that uses ``gateway`` must override this."""
    raise pytest.UsageError("the gateway fixture needs a gateway_config fixture (TOML text) from your conftest.py")


@pytest.fixture(scope="session")
def gateway_env() -> dict[str, str]:
    """Variables added to the gateway's environment (for ``${VAR}`` in ``gateway_config``); none by default."""
    return {}


class _Gateways:
    """The one ``hexgate serve`` the session keeps: started for a config, replaced when a test asks
    for another (conftests of different plugins give different configs; pytest would otherwise hand
    every directory the first one a session-scoped fixture made)."""

    def __init__(self) -> None:
        self._key: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self._stack = contextlib.ExitStack()
        self._base = ""

    def get(self, config: str, env: dict[str, str]) -> str:
        key = (config, tuple(sorted(env.items())))
        if key != self._key:
            self.close()
            self._base = self._stack.enter_context(running_gateway(config, env=env))
            self._key = key
        return self._base

    def close(self) -> None:
        self._key = None
        self._stack.close()


@pytest.fixture(scope="session")
def _hexgate_gateways() -> Iterator[_Gateways]:
    gateways = _Gateways()
    yield gateways
    gateways.close()


@pytest.fixture
def gateway(_hexgate_gateways: _Gateways, gateway_config: str, gateway_env: dict[str, str]) -> str:
    """``hexgate serve`` with ``gateway_config``: its base URL (the OpenAI base URL is that + ``/v1``).
    Started once and kept while the tests that follow ask for the same config and env."""
    return _hexgate_gateways.get(gateway_config, gateway_env)


@pytest.fixture
def client(gateway: str, stub: StubUpstream) -> Iterator[openai.OpenAI]:
    """The official openai client in front of ``gateway``; the stub starts the test empty."""
    stub.reset()
    with openai.OpenAI(base_url=f"{gateway}/v1", api_key="test-key", max_retries=0, timeout=30.0) as c:
        yield c


@pytest.fixture
def captures(request: pytest.FixtureRequest) -> Captures:
    """The captures in the ``fixtures/`` folder beside the test file."""
    return Captures(Path(request.path).parent / "fixtures")
