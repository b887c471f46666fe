"""A Gradio app's API description, as ``Client.view_api(return_format="dict")`` returns it.

Source: gradio ``client/python/gradio_client/client.py`` (``view_api``, ``_get_api_info``) and the
``/gradio_api/info`` route; the dicts in ``tests/fixtures/view_api/`` were captured from real
Gradio 6 apps. Keys this plugin does not read are ignored; every key has a default because older
Gradio versions omit some (``parameter_name`` appeared in Gradio 4).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ApiInfo", "EndpointInfo", "ParameterInfo", "PythonType", "ReturnInfo", "parse_api_info"]


class PythonType(msgspec.Struct, kw_only=True):
    type: str = ""
    """e.g. ``str``, ``float``, ``int | float``, ``Dict(text: str, files: List[filepath])``."""
    description: str | None = None


class ParameterInfo(msgspec.Struct, kw_only=True):
    """One input of an endpoint, in the order ``predict(*args)`` takes them (hidden ``gr.State`` inputs
    are not listed: the client inserts them)."""

    label: str = ""
    """Empty for a ``ChatInterface``'s message box; older apps give only this, no ``parameter_name``."""
    parameter_name: str | None = None
    parameter_has_default: bool = False
    parameter_default: Any = None
    type: Any = None
    """JSON-schema-ish: ``{"type": "number", "description": "numeric value between 1 and 2048"}``."""
    python_type: PythonType = msgspec.field(default_factory=PythonType)
    component: str = ""
    """The Gradio component class name: ``Textbox``, ``Slider``, ``Chatbot``, ``MultimodalTextbox`` …"""


class ReturnInfo(msgspec.Struct, kw_only=True):
    label: str = ""
    type: Any = None
    python_type: PythonType = msgspec.field(default_factory=PythonType)
    component: str = ""


class EndpointInfo(msgspec.Struct, kw_only=True):
    parameters: list[ParameterInfo] = msgspec.field(default_factory=list)
    returns: list[ReturnInfo] = msgspec.field(default_factory=list)
    description: str | None = None


class ApiInfo(msgspec.Struct, kw_only=True):
    named_endpoints: dict[str, EndpointInfo] = msgspec.field(default_factory=dict)
    """Keyed by ``api_name`` with its leading slash (``/chat``, ``/respond``)."""
    unnamed_endpoints: dict[str, EndpointInfo] = msgspec.field(default_factory=dict)


def parse_api_info(raw: Any) -> ApiInfo:
    """Convert ``view_api(return_format="dict")`` output (``null`` labels and components read as empty).
    Raises ``msgspec.ValidationError`` on a shape that is not an API description."""
    return msgspec.convert(_nulls_to_empty(raw), ApiInfo, str_keys=True)


def _nulls_to_empty(raw: Any) -> Any:
    """``label`` / ``component`` may be null in some apps' descriptions; only those keys are touched."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for group in ("named_endpoints", "unnamed_endpoints"):
        endpoints = out.get(group)
        if not isinstance(endpoints, dict):
            continue
        fixed = {}
        for name, endpoint in endpoints.items():
            if isinstance(endpoint, dict):
                endpoint = dict(endpoint)
                for key in ("parameters", "returns"):
                    items = endpoint.get(key)
                    if isinstance(items, list):
                        endpoint[key] = [_fill(item) for item in items]
            fixed[name] = endpoint
        out[group] = fixed
    return out


def _fill(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    return {k: "" if v is None and k in ("label", "component") else v for k, v in item.items()}
