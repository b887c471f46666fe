"""Operating hexgate: virtual keys, rate limits and budgets shared across replicas, usage, metrics,
traces, JSON logs and config reload.

Modules (each small, imported only where used, so ``import hexgate`` stays light)::

    meter.py       what a route tells the middleware about one request (model, tokens, error)
    keys.py        virtual keys: issued once, stored as SHA-256, looked up with a cache of at most 0.5 s
    state.py       the shared state: records behind Litestar's ``Store``; counters (memory or Redis)
    limits.py      requests/tokens per minute and budgets: one store round trip per check
    usage.py       prices, and usage per key, provider and model (batched writes)
    metrics.py     Prometheus metrics named after OpenTelemetry's GenAI conventions
    tracing.py     OpenTelemetry: Litestar's plugin for the server span, a span per upstream attempt
    logs.py        JSON log lines carrying the request id
    reload.py      registry generations: swap on reload, close the old one when its requests are done
    middleware.py  the ASGI middleware tying the above to each request
    admin.py       ``/admin/keys``, ``/admin/reload``, ``/v1/usage``, ``/metrics``
    service.py     :class:`~hexgate.ops.service.Ops`: built by ``create_app``, owns all of it
    cli.py         ``hexgate keys …`` and ``hexgate usage``
"""

__all__: list[str] = []
