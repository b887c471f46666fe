"""The echo provider: hexgate's test double and the template a plugin author copies.

Copy this package, rename it, keep the three rooms (``provider.py`` for I/O,
``translate.py`` for pure mapping, ``wire.py`` for the upstream's Structs; echo
needs only the first), and declare the entry point in ``pyproject.toml``::

    [project.entry-points."hexgate.providers"]
    echo = "hexgate_echo:EchoProvider"
"""

from hexgate_echo.provider import EchoProvider, EchoSettings

__all__ = ["EchoProvider", "EchoSettings"]
