"""Prometheus metrics of one engine: Docker's two health-check counters and vigil's
per-service series, kept exact from the typed event stream and served in the text formats
of ``prometheus_client`` (``GET /metrics`` on the API; ``asgi_app`` for any other address).

Each daemon (each ``Engine``) has its own ``CollectorRegistry``, never the global one.
"""

from vigil.metrics.collector import DURATION_BUCKETS_S, EngineMetrics, Snapshot
from vigil.metrics.exposition import asgi_app, render, scrape

__all__ = ["DURATION_BUCKETS_S", "EngineMetrics", "Snapshot", "asgi_app", "render", "scrape"]
