"""The monitor's verdict as Prometheus gauges, pushed to a Pushgateway (a batch job cannot be scraped).

Prometheus scrapes the gateway (honor_labels), so the drift alert and the dashboard read what the last
`tweetops monitor` found: the verdict, each check's value, threshold and whether it fired, and when it ran
(an alert on that time catches a monitor that stopped running).
"""
from __future__ import annotations

import http.client
import urllib.parse

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import GaugeMetricFamily

from tweetops.errors import TweetopsError

JOB = "tweetops-monitor"
TIMEOUT_SECONDS = 10


class MonitorResult:
    """A collector over one drift.json result: nothing is kept in the process between runs. Every gauge carries
    the model version as a label, not as a grouping key: each push replaces the job's one group, so a model
    that is no longer served leaves no drift verdict behind to keep an alert firing."""

    def __init__(self, result: dict, ran_at: float, model_version: str):
        self.result, self.ran_at, self.model_version = result, ran_at, model_version

    def _gauge(self, name: str, about: str, value: float | None = None, **labels: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, about, labels=["model_version", *labels])
        if value is not None:
            family.add_metric([self.model_version, *labels.values()], value)
        return family

    def collect(self):
        verdict = self.result["verdict"]
        yield self._gauge("tweetops_drift_detected", "1 when the last monitor run found drift, else 0.",
                          float(verdict == "drift"))
        yield self._gauge("tweetops_monitor_verdict", "The last monitor run's verdict (value 1).", 1.0, verdict=verdict)
        families = {field: self._gauge(f"tweetops_drift_check_{field}", about, check="")
                    for field, about in (("value", "Each drift check's value in the last monitor run."),
                                         ("threshold", "Each drift check's threshold."),
                                         ("fired", "1 when the check fired in the last monitor run."))}
        for check in self.result["checks"]:
            for field, value in (("value", check["value"]), ("threshold", check["threshold"]),
                                 ("fired", check["drift"])):
                families[field].add_metric([self.model_version, check["name"]], float(value))
        yield from families.values()
        yield self._gauge("tweetops_monitor_last_run_timestamp_seconds",
                          "When the last monitor run finished (Unix time).", self.ran_at)


def check_url(url: str) -> str:
    """The gateway URL as prometheus_client takes it (host:port means http://host:port), checked before any work
    is done, so a typo is one sentence rather than a traceback after the drift checks."""
    full = url if "://" in url else f"http://{url}"
    parts = urllib.parse.urlsplit(full)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() or ord(c) < 32 for c in url):
        raise TweetopsError(f"--pushgateway / PUSHGATEWAY_URL must be an http(s) URL such as "
                            f"http://pushgateway:9091, got {url!r}.")
    return full


def push(url: str, result: dict, ran_at: float, model_version: str) -> None:
    """Replace the gateway's group of this job with this run's gauges; one sentence if it cannot."""
    registry = CollectorRegistry()
    registry.register(MonitorResult(result, ran_at, model_version))
    try:
        push_to_gateway(url, job=JOB, registry=registry, timeout=TIMEOUT_SECONDS)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise TweetopsError(f"could not push the drift metrics to the Pushgateway at {url} ({exc}); "
                            "check PUSHGATEWAY_URL or --pushgateway.") from None
