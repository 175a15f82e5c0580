"""Prometheus metrics for the API: requests and latency by route and status, predictions by label, the model
served, and the history's backlog (journal bytes not yet in the database, records quarantined).

With several worker processes, `tweetops serve` sets PROMETHEUS_MULTIPROC_DIR before starting
them, so /metrics sums every worker's counts instead of showing one worker's share.
"""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess
from prometheus_client.core import GaugeMetricFamily

from tweetops.settings import environment

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter("tweetops_http_requests_total", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram("tweetops_http_request_duration_seconds", "Time to answer an HTTP request.",
                    ["route", "method", "status"], buckets=LATENCY_BUCKETS)
PREDICTIONS = Counter("tweetops_predictions_total", "Texts classified, by predicted label.", ["label"])
MODEL_INFO = Gauge("tweetops_model_info", "The model being served (value 1).", ["version"],
                   multiprocess_mode="max")


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    labels = (route, method, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


def count_predictions(labels: list[str]) -> None:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    for label, n in counts.items():
        PREDICTIONS.labels(label).inc(n)


def set_model(version: str) -> None:
    MODEL_INFO.labels(version).set(1)


class HistoryBacklog:
    """Read at each scrape from the spool folder the workers share, so any worker reports the whole backlog;
    a collector rather than a Gauge, which in multi-process mode would keep one stale value per worker."""

    def __init__(self, unshipped_bytes: int, quarantined: int):
        self.unshipped_bytes, self.quarantined = unshipped_bytes, quarantined

    def collect(self):
        yield GaugeMetricFamily("tweetops_history_backlog_bytes",
                                "Journal bytes of answered predictions not yet in the history database.",
                                value=self.unshipped_bytes)
        yield GaugeMetricFamily("tweetops_history_quarantined_records",
                                "Records the history database refused, kept with their reason.", value=self.quarantined)


def exposition(backlog: tuple[int, int] | None = None) -> tuple[bytes, str]:
    """The metrics text and its content type, summed over worker processes when there are several, with the
    history's (unshipped bytes, quarantined records) when given."""
    if environment().prometheus_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if backlog is not None:
        extra = CollectorRegistry()
        extra.register(HistoryBacklog(*backlog))
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST
