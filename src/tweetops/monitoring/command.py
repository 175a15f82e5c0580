"""`tweetops monitor`: judge a window of recent traffic against the model's training reference.

Exit status (documented in `tweetops monitor --help` and the README):
  0  no drift
  2  a user error (bad URL, missing file, no model, bad params), one sentence on stderr
  3  drift: at least one check fired
  4  not enough data: fewer texts than monitoring.min_samples on either side, so no verdict is guessed
Writes reports/monitoring/<UTC time>/drift.json and drift.html either way (not on a user error).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
from pathlib import Path

from tweetops.artifacts import load_bundle
from tweetops.config import LABELS, load_config
from tweetops.errors import TweetopsError
from tweetops.history import database_url
from tweetops.inference import resolve_model_dir
from tweetops.logs import timed
from tweetops.monitoring import drift, report
from tweetops.monitoring.reference import read_reference
from tweetops.monitoring.traffic import Window, from_file, from_history

log = logging.getLogger("tweetops.monitor")
EXIT_CODES = {"no_drift": 0, "drift": 3, "not_enough_data": 4}


def judge(bundle, reference, window: Window, params) -> tuple[dict, dict | None, dict | None]:
    """(result, reference profile, current profile); the profiles are None when there is too little data."""
    result = {"model": {"version": bundle.version, "path": str(bundle.path)}, "source": window.source,
              "since": window.since, "current_rows": len(window.texts), "skipped_rows": window.skipped,
              "served_by": window.model_versions, "reference_rows": len(reference),
              "params": dataclasses.asdict(params), "checks": []}
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
        result["checks"] = drift.compare(ref, cur, params)
    fired = [c["name"] for c in result["checks"] if c["drift"]]
    result["verdict"] = "drift" if fired else "no_drift"
    result["reason"] = f"fired: {', '.join(fired)}" if fired else "no check fired"
    return result, ref, cur


def cmd_monitor(args) -> int:
    config = load_config(args.params)
    params = config.params.monitoring
    if args.max_rows is not None and args.max_rows < params.min_samples:
        raise TweetopsError(f"--max-rows {args.max_rows} is below monitoring.min_samples ({params.min_samples}); "
                            "no verdict could ever be reached.")
    if args.window_hours is not None and args.window_hours <= 0:
        raise TweetopsError(f"--window-hours must be positive, got {args.window_hours:g}.")
    given = {"max_rows": args.max_rows, "window_hours": args.window_hours}
    params = dataclasses.replace(params, **{k: v for k, v in given.items() if v is not None})  # drift.json shows them
    bundle = load_bundle(resolve_model_dir(args.model))
    reference = read_reference(bundle.path)  # before any traffic is read: a model that cannot be monitored fails fast
    if args.input:
        window = from_file(args.input, params.max_rows, root=Path.cwd(),
                           endpoint_url=config.params.data.s3_endpoint_url)
    else:
        window = from_history(args.history or database_url(), params.window_hours, params.max_rows)
    now = datetime.datetime.now(datetime.timezone.utc)
    result, ref, cur = judge(bundle, reference, window, params)
    result["created_at"] = now.isoformat(timespec="seconds")
    result["exit_code"] = EXIT_CODES[result["verdict"]]
    folder = Path(args.output) if args.output else config.paths.reports / "monitoring" / f"{now:%Y%m%dT%H%M%SZ}"
    written = report.write(folder, result, ref, cur)
    log.info("monitor: %s (%s); %s", result["verdict"], result["reason"], written["html"])
    print(f"verdict: {result['verdict']} ({result['reason']})")
    for c in result["checks"]:
        print(f"  {'DRIFT' if c['drift'] else 'ok   '} {c['name']}: {c['value']:.4g} (threshold {c['threshold']:g})")
    print(f"report:  {written['json']}\n         {written['html']}")
    return result["exit_code"]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "monitor", help="compare recent predictions with the model's training reference (drift)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 no drift, 3 drift, 4 not enough data (fewer than monitoring.min_samples texts), "
               "2 user error")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--history", default=None,
                        help="prediction history database URL (default: DATABASE_URL, else the API's SQLite file)")
    source.add_argument("--input", default=None,
                        help="a file of current texts instead (TSV/CSV/JSONL/Parquet with a 'text' column)")
    p.add_argument("--model", default=None, help="model bundle folder (default: MODEL_DIR, else models/latest)")
    p.add_argument("--window-hours", type=float, default=None, help="history window (default: monitoring.window_hours)")
    p.add_argument("--max-rows", type=int, default=None,
                   help="newest texts taken at most (default: monitoring.max_rows)")
    p.add_argument("--output", default=None, help="report folder (default: reports/monitoring/<UTC time>)")
    p.add_argument("--params", default=None, help="params file (default: params.yaml or TWEETOPS_PARAMS)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    p.set_defaults(func=cmd_monitor)
