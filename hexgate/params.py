"""What each provider does with the chat request's parameters, told to the client.

A provider class may declare ``param_policy``: a mapping from a Chat Completions parameter name to
:data:`~hexgate.protocol.ParamPolicy` (``pass``, ``emulate``, ``drop`` or ``reject``); parameters
it does not list are ``pass``. For each parameter the client set (a value other than null,
``false``, or ``n = 1``), the chat route:

- ``drop``: names it in the ``x-hexgate-dropped-params`` response header, or, with
  ``[server] strict_params = true``, refuses the request (400, ``param`` naming it);
- ``emulate``: names it in ``x-hexgate-emulated-params`` (the answer has the parameter's effect,
  obtained otherwise, e.g. ``n`` by one upstream call per choice);
- ``reject``: refuses the request (400 ``unsupported``, ``param`` naming it).

For an alias the check covers every target the request may reach (strict mode refuses when any
of them would drop a parameter); the headers name what the target that answered did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from msgspec import UNSET

from hexgate.errors import InvalidRequest, Unsupported
from hexgate.protocol import ParamPolicy
from hexgate.schemas.chat import ChatCompletionRequest

__all__ = ["DROPPED_HEADER", "EMULATED_HEADER", "check", "headers_for", "policy_of"]

DROPPED_HEADER = "x-hexgate-dropped-params"
EMULATED_HEADER = "x-hexgate-emulated-params"


def policy_of(provider: object) -> Mapping[str, ParamPolicy]:
    """The provider's declared ``param_policy`` (empty when it declares none)."""
    policy = getattr(provider, "param_policy", None)
    return policy if isinstance(policy, Mapping) else {}


def _is_set(request: ChatCompletionRequest, name: str) -> bool:
    value = getattr(request, name, None)
    if name == "n":
        return isinstance(value, int) and value != 1
    return value is not None and value is not False and value is not UNSET


def _unhonoured(request: ChatCompletionRequest, policy: Mapping[str, ParamPolicy]) -> Iterable[tuple[str, str]]:
    for name, what in policy.items():
        if what != "pass" and _is_set(request, name):
            yield name, what


def check(request: ChatCompletionRequest, providers: Iterable[tuple[str, object]], *, strict: bool) -> None:
    """Refuse the request before any upstream call when a provider it may reach rejects one of
    its parameters, or (``strict``) would drop one. Raises :class:`Unsupported` /
    :class:`InvalidRequest` (400) naming the parameter and the provider."""
    for pid, provider in providers:
        for name, what in _unhonoured(request, policy_of(provider)):
            if what == "reject":
                raise Unsupported(f"provider {pid!r} does not support '{name}'; remove it", param=name)
            if what == "drop" and strict:
                raise InvalidRequest(
                    f"provider {pid!r} would ignore '{name}' and this gateway runs with strict_params; remove it",
                    param=name,
                )


def headers_for(request: ChatCompletionRequest, provider: object) -> dict[str, str]:
    """``x-hexgate-dropped-params`` / ``x-hexgate-emulated-params`` for the provider that answered
    (comma-separated parameter names; a header is left out when it would be empty)."""
    dropped: list[str] = []
    emulated: list[str] = []
    for name, what in _unhonoured(request, policy_of(provider)):
        (dropped if what == "drop" else emulated if what == "emulate" else []).append(name)
    out = {}
    if dropped:
        out[DROPPED_HEADER] = ",".join(dropped)
    if emulated:
        out[EMULATED_HEADER] = ",".join(emulated)
    return out
