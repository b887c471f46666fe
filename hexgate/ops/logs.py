"""Structured logs: ``[server] log_format = "json"`` makes ``hexgate serve`` write one JSON object per
line, with the request id of the request being served (the ``x-request-id`` it answers with)::

    {"time": "2025-06-01T12:00:00.123Z", "level": "INFO", "logger": "hexgate.usage",
     "message": "…", "request_id": "req_…", "usage": {…}}

``extra`` fields that hexgate's own records carry (``usage``) are kept. No prompt or completion text
is ever logged, unless ``[telemetry] log_prompts = true`` (logger ``hexgate.prompts``).

The text format (``log_format = "text"``, the default) escapes every non-printable character of a
message (:class:`TextFormatter`), so a model name or path with a line break cannot forge a log line;
JSON lines are escaped by JSON itself.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

import msgspec

__all__ = ["REQUEST_ID", "JsonFormatter", "RequestIdFilter", "TextFormatter", "escape", "log_config"]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("hexgate_request_id", default="")
"""The request being served in this context (set by the ops middleware)."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EXTRAS = ("usage", "key_id", "status_code", "client_addr", "request_line")
_encoder = msgspec.json.Encoder()


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (empty outside a request), for text formats too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get()
        return True


def escape(text: str) -> str:
    """``text`` with every non-printable character (line breaks, terminal escapes, other control and
    separator characters) written as a Python escape (``\\n``, ``\\x1b``, ``\\u2028``), so that text a
    client chose (a model name, an id, a path) cannot forge or garble a log line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class TextFormatter(logging.Formatter):
    """The text format, its message passed through :func:`escape` (a traceback keeps its own lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.message.isprintable():
            return super().formatMessage(record)
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = escape(record.message)
        return super().formatMessage(safe)


class JsonFormatter(logging.Formatter):
    """One compact JSON object per record (see the module doc)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.gmtime(record.created)
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", seconds) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            out["request_id"] = request_id
        for name in _EXTRAS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode()


def log_config(log_format: str, *, level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn's ``log_config`` (applied in every worker):
    the root logger and uvicorn's loggers write to standard error, as JSON or as text lines."""
    formatter = (
        {"()": "hexgate.ops.logs.JsonFormatter"}
        if log_format == "json"
        else {"()": "hexgate.ops.logs.TextFormatter", "fmt": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "hexgate.ops.logs.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            # httpx logs every upstream request at INFO: noise on the hot path, and URLs in logs
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
