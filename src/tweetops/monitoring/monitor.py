"""`tweetops monitor`: judge a window of recent traffic against the served model's training reference.

The model is the one serving would load (tweetops.serving.inference.resolve_model: the champion by
default). Exit status (documented in `tweetops monitor --help` and the README):
  0  no drift
  2  a user error (bad URL, missing file, no model, bad params), one sentence on stderr
  3  drift: at least one check fired
  4  not enough data: fewer texts than monitoring.min_samples on either side, so no verdict is guessed
Writes reports/monitoring/<UTC time>/drift.json and drift.html either way (not on a user error).
"""
from __future__ import annotations

import datetime
import logging
from pathlib import Path

from tweetops.errors import TweetopsError
from tweetops.io.files import writable_folder
from tweetops.logs import timed
from tweetops.model import LABELS
from tweetops.model.bundle import load_bundle
from tweetops.monitoring import drift, report
from tweetops.monitoring.push import check_url, push
from tweetops.monitoring.reference import read_reference
from tweetops.monitoring.traffic import Window, from_file, from_history
from tweetops.serving.history import database_url
from tweetops.serving.inference import resolve_model
from tweetops.settings import MAX_WINDOW_HOURS, Config, environment

log = logging.getLogger("tweetops.monitor")
EXIT_CODES = {"no_drift": 0, "drift": 3, "not_enough_data": 4}


def judge(bundle, reference, window: Window, params) -> tuple[dict, dict | None, dict | None]:
    """(result, reference profile, current profile); the profiles are None when there is too little data."""
    result = {"model": {"version": bundle.version, "path": str(bundle.path),
                        "macro_f1": bundle.manifest["metrics"]["macro_f1"]}, "source": window.source,
              "since": window.since, "current_rows": len(window.texts), "skipped_rows": window.skipped,
              "unreadable_rows": window.unreadable, "left_out_rows": window.left_out, "source_rows": window.rows,
              "rows_used": window.accounting(), "served_by": window.model_versions, "reference_rows": len(reference),
              "params": params.model_dump(), "checks": [], "what_drifted": None}
    if min(len(window.texts), len(reference)) < params.min_samples:
        result["verdict"] = "not_enough_data"
        result["reason"] = (f"{len(window.texts):,} current and {len(reference):,} reference texts; "
                            f"at least {params.min_samples:,} of each are needed")
        return result, None, None
    with timed(log, f"profiled {len(reference):,} reference and {len(window.texts):,} current texts"):
        ref = drift.profile(bundle.model, reference["text"].tolist(),
                            reference[[f"p_{label}" for label in LABELS]].to_numpy())
        cur = drift.profile(bundle.model, window.texts)
    with timed(log, "drift checks"):
        result["checks"], result["what_drifted"] = drift.compare(ref, cur, params)
    fired = [c["name"] for c in result["checks"] if c["drift"]]
    result["verdict"] = "drift" if fired else "no_drift"
    result["reason"] = f"fired: {', '.join(fired)}" if fired else "no check fired"
    return result, ref, cur


def monitor(config: Config, *, input_uri: str | None = None, history: str | None = None, model: str | None = None,
            window_hours: float | None = None, max_rows: int | None = None, output: str | None = None,
            pushgateway: str | None = None, text_column: str = "text") -> int:
    """Judge, write drift.json and drift.html, push the verdict's gauges (to `pushgateway`, else
    PUSHGATEWAY_URL, when either is set), print the verdict; the exit status (EXIT_CODES)."""
    params = config.params.monitoring
    if max_rows is not None and max_rows < params.min_samples:
        raise TweetopsError(f"--max-rows {max_rows} is below monitoring.min_samples ({params.min_samples}); "
                            "no verdict could ever be reached.")
    if window_hours is not None and not 0 < window_hours <= MAX_WINDOW_HOURS:  # nan too
        raise TweetopsError(f"--window-hours must be positive and at most {MAX_WINDOW_HOURS:,} (100 years), got "
                            f"{window_hours:g}.")
    gateway = pushgateway or environment().pushgateway_url
    if gateway:
        gateway = check_url(gateway)
    if output:  # before the model and the traffic are read, so a bad folder wastes no analysis
        writable_folder(Path(output), "--output")
    given = {"max_rows": max_rows, "window_hours": window_hours}
    params = params.model_copy(update={k: v for k, v in given.items() if v is not None})  # drift.json shows them
    bundle = load_bundle(resolve_model(model, config.catalog).path)
    reference = read_reference(bundle.path)  # before any traffic is read: a model that cannot be monitored fails fast
    if input_uri:
        window = from_file(input_uri, params.max_rows, root=Path.cwd(),
                           endpoint_url=config.params.data.s3_endpoint_url, text_column=text_column)
    else:
        window = from_history(history or database_url(), params.window_hours, params.max_rows)
    log.info("monitor: %s of %s", window.accounting(), window.source)
    now = datetime.datetime.now(datetime.timezone.utc)
    result, ref, cur = judge(bundle, reference, window, params)
    result["created_at"] = now.isoformat(timespec="seconds")
    result["exit_code"] = EXIT_CODES[result["verdict"]]
    folder = Path(output) if output else config.catalog.monitoring_reports / f"{now:%Y%m%dT%H%M%SZ}"
    written = report.write(folder, result, ref, cur)
    log.info("monitor: %s (%s); %s", result["verdict"], result["reason"], written["html"])
    if gateway:  # after the report is written: a gateway that is down loses no evidence
        try:
            push(gateway, result, now.timestamp(), bundle.version)
            log.info("monitor: drift metrics pushed to %s", gateway)
        except TweetopsError as exc:  # the verdict still decides the exit: drift must still trigger the retrain
            log.warning("monitor: %s The verdict stands; the alert on a monitor that stopped running fires if the "
                        "pushes keep failing.", exc)
    print(f"verdict: {result['verdict']} ({result['reason']})")
    for c in result["checks"]:
        print(f"  {'DRIFT' if c['drift'] else 'ok   '} {c['name']}: {c['sentence']}")
    print(f"report:  {written['json']}\n         {written['html']}")
    return result["exit_code"]
