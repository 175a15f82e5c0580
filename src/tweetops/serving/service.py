"""What one serving process holds: the predictor, the history writer, and how a prediction is answered.

HTTP-free, so the API routes and /invocations share one code path: predict, count, record.
"""
from __future__ import annotations

import datetime
import gc
import logging
import sys
import time
from dataclasses import dataclass, field

from tweetops.logs import set_model_version
from tweetops.serving import metrics
from tweetops.serving.history import History, new_record, record_ids
from tweetops.serving.inference import Limits, ModelChoice, Predictor, load_predictor

log = logging.getLogger("tweetops.service")


@dataclass
class Service:
    predictor: Predictor | None = None
    history: History | None = None
    limits: Limits = field(default_factory=Limits.from_environment)
    started: float = field(default_factory=time.monotonic)

    @property
    def ready(self) -> bool:
        return self.predictor is not None

    def start(self, model: ModelChoice | str | None = None, history: History | None = None) -> "Service":
        """Load the verified model, unless loaded already, and start the history writer (raises TweetopsError on
        a bad model)."""
        if self.predictor is None:
            self.load(model)
        self.history = history if history is not None else History().start()
        log.info("serving model %s: %s; history in %s", self.predictor.version, self.predictor.choice.note,
                 self.history.engine.url.render_as_string(hide_password=True))
        return self

    def load(self, model: ModelChoice | str | None = None) -> "Service":
        """Load the verified model, ready to answer (raises TweetopsError on a bad model)."""
        self.predictor = load_predictor(model)
        self.predictor.predict_proba(["warm up the fast path"])  # compile it now, not on the first request
        # The model's vocabularies are millions of long-lived objects: keep the cyclic GC from walking them
        # during requests (its full collections were the slowest requests under load).
        gc.freeze()
        # The history writer thread shares the GIL with the event loop: a 1 ms switch interval (Python's
        # default is 5 ms) bounds how long a request waits behind a flush.
        sys.setswitchinterval(0.001)
        metrics.set_model(self.predictor.version)
        set_model_version(self.predictor.version)  # on every log line this process writes
        return self

    def stop(self) -> None:
        if self.history is not None:
            self.history.close()
            log.info("history flushed")

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def predict(self, texts: list[str], request_id: str, idempotency_key: str | None = None) -> list[dict]:
        """Validated texts in, one {label, probabilities} per text out; recorded in the history (once per
        idempotency key, however often the request is retried)."""
        start = time.perf_counter()
        results = self.predictor.predict(texts)
        latency_ms = (time.perf_counter() - start) * 1000
        version = self.predictor.version
        now = datetime.datetime.now(datetime.timezone.utc)
        ids = record_ids(texts, idempotency_key)
        self.history.record([new_record(request_id, text, r["label"], r["probabilities"], version, latency_ms, now,
                                        record_id) for text, r, record_id in zip(texts, results, ids)])
        metrics.count_predictions([r["label"] for r in results])
        return results
