"""The `tweetops` command: `run` (all six stages) and `stage NAME` (one of them).

Errors a user can cause print one sentence on stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from tweetops import batch, gate, registry, server
from tweetops.config import load_config
from tweetops.errors import TweetopsError
from tweetops.logs import setup_logging
from tweetops.monitoring import command as monitor
from tweetops.pipeline import STAGES, run_all, run_stage
from tweetops.report_compare import add_parser as add_report_parser

log = logging.getLogger("tweetops")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="params file (default: params.yaml or TWEETOPS_PARAMS)")
    parser.add_argument("--source", default=None, help="data source: path, file://, https:// or s3://")
    parser.add_argument("--labeled-fraction", type=float, default=None,
                        help="share of training rows that keep their gold label (0, 1]")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default: LOG_LEVEL or INFO)")
    parser.add_argument("--no-tracking", action="store_true",
                        help="do not log to MLflow; the champion is then models/champion")


def _config(args):
    return load_config(args.params, **{"data.source": args.source, "split.labeled_fraction": args.labeled_fraction,
                                       "tracking.enabled": False if args.no_tracking else None})


def cmd_run(args) -> int:
    results = run_all(_config(args))
    training = results["model_training"]
    print(f"model:   {training['bundle']}\nsummary: {training['reports']}/summary.md\n"
          f"macro-F1 {training['macro_f1']:.4f} (baselines: "
          + ", ".join(f"{k} {v:.4f}" for k, v in training["baselines"].items()) + ")")
    print(f"gate:    {training['gate']['sentence']}")
    return 0


def cmd_stage(args) -> int:
    result = run_stage(args.name, _config(args))
    print(json.dumps(result, indent=2, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetops", description="Tweet sentiment: train, serve, monitor.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the six pipeline stages in order")
    _config_args(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("stage", help="run one pipeline stage")
    p.add_argument("name", choices=STAGES)
    _config_args(p)
    p.set_defaults(func=cmd_stage)
    batch.add_parser(sub)
    gate.add_parser(sub)
    monitor.add_parser(sub)
    add_report_parser(sub)
    registry.add_parser(sub)
    server.add_parser(sub)
    return parser


def limit_threads() -> None:
    """One BLAS/OpenMP thread unless TWEETOPS_THREADS says otherwise.

    Measured here on 2 shared cores: multi-threaded BLAS spin-waits under contention and made
    the logistic regression fit 6x slower (17 s vs 2.8 s) and clustering 3x slower.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ.get("TWEETOPS_THREADS", "1")))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_level", None))
    limit_threads()
    try:
        return args.func(args)
    except TweetopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def stage_main(name: str, argv=None) -> int:
    """`python -m tweetops.<stage> [options]` is `tweetops stage <stage> [options]`."""
    return main(["stage", name, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
