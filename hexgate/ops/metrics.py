"""Prometheus metrics at ``/metrics``, named after OpenTelemetry's GenAI semantic conventions.

Histograms (the conventions' names in Prometheus form, with their recommended buckets)::

    gen_ai_client_operation_duration_seconds   request duration, by gen_ai_operation_name,
                                               gen_ai_provider_name, gen_ai_request_model, error_type
    gen_ai_client_token_usage                  tokens per request, by the same and gen_ai_token_type
                                               (input | output)
    gen_ai_server_time_to_first_token_seconds  streams: time until the first chunk left hexgate

Counters and gauges of hexgate's own::

    hexgate_requests_total          by operation, provider, model, http_response_status_code
    hexgate_errors_total            by operation, provider, model, error_type (a status code, or the
                                    error type of a mid-stream error frame)
    hexgate_cost_usd_total          by provider, model (from the [prices] table)
    hexgate_active_streams          streams being sent now, by operation and provider
    hexgate_refusals_total          requests refused by a key's limits, by reason (key, model,
                                    requests, tokens, budget)

``gen_ai_provider_name`` is hexgate's provider id (the prefix of model names), ``gen_ai_request_model``
the name the client sent; both are empty for a request that was never routed (a bad body, an unknown
model), which keeps clients from making new series at will; past 1,000 model names the rest are
``other``. No key ids in labels.

Several workers (``hexgate serve --workers N``) use prometheus-client's multiprocess mode:
``hexgate serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory (or keeps yours) and
``/metrics`` adds every worker's figures up; a worker's live gauge leaves with it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["Metrics", "available"]

_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, … 67108864
_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_GENAI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")


def available() -> bool:
    """True when prometheus-client is installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class Metrics:
    """The metric objects of one app, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration (gateway request, from its arrival to its last byte)",
            [*_GENAI, "error_type"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Histogram(
            "gen_ai_client_token_usage",
            "Number of input and output tokens used per request",
            [*_GENAI, "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to generate the first token, for streamed requests",
            list(_GENAI),
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "hexgate_requests", "Model requests answered", [*_GENAI, "http_response_status_code"], registry=r
        )
        self.errors = Counter("hexgate_errors", "Model requests that failed", [*_GENAI, "error_type"], registry=r)
        self.cost = Counter(
            "hexgate_cost_usd",
            "Cost of the tokens used, US dollars",
            ["gen_ai_provider_name", "gen_ai_request_model"],
            registry=r,
        )
        self.streams = Gauge(
            "hexgate_active_streams",
            "Streams being sent now",
            ["gen_ai_operation_name", "gen_ai_provider_name"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.refusals = Counter("hexgate_refusals", "Requests refused by a key's limits", ["reason"], registry=r)
        # Each metric's children by their label values: prometheus-client's own ``labels()`` validates and
        # locks on every call (~2 µs, seven per request). These hold no series prometheus-client does not
        # hold already, so they are bounded as the labels are (see the module doc).
        self._children: dict[int, dict[tuple[str, ...], Any]] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        children = self._children.get(id(metric))
        if children is None:
            children = self._children[id(metric)] = {}
        child = children.get(values)
        if child is None:
            child = children[values] = metric.labels(*values)
        return child

    def observe(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        status: int,
        error: str | None,
        seconds: float,
        ttft: float | None,
        input_tokens: int,
        output_tokens: int,
        cost_nanos: int,
    ) -> None:
        """Record one finished request."""
        child = self._child
        child(self.duration, operation, provider, model, error or "").observe(seconds)
        child(self.requests, operation, provider, model, str(status)).inc()
        if error:
            child(self.errors, operation, provider, model, error).inc()
        if input_tokens or output_tokens:
            child(self.tokens, operation, provider, model, "input").observe(input_tokens)
            child(self.tokens, operation, provider, model, "output").observe(output_tokens)
        if ttft is not None:
            child(self.ttft, operation, provider, model).observe(ttft)
        if cost_nanos:
            child(self.cost, provider, model).inc(cost_nanos / 1e9)

    def stream(self, operation: str, provider: str, delta: int) -> None:
        self._child(self.streams, operation, provider).inc(delta)

    def refused(self, reason: str) -> None:
        self._child(self.refusals, reason).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type; every worker's figures in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry: Any = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """In multiprocess mode, drop this worker's live gauges."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
