"""The options every stage takes, on `tweetops run`, `tweetops stage NAME` and `python -m
tweetops.pipeline.<stage>` alike; the last runs a stage without the CLI. Defining them imports
nothing heavy, so `tweetops --help` stays fast; what runs a stage is imported when it runs."""
from __future__ import annotations

import argparse
import sys

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_stage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    parser.add_argument("--source", default=None,
                        help="data source: path, file://, https:// or s3:// (first stage; later ones check it)")
    parser.add_argument("--labeled-fraction", type=float, default=None,
                        help="share of training rows that keep their gold label, in (0, 1]")
    parser.add_argument("--log-level", default=None, type=str.upper, choices=LOG_LEVELS,
                        help="log level (default: LOG_LEVEL or INFO)")
    parser.add_argument("--no-tracking", action="store_true",
                        help="no MLflow: the champion is the local models/champion")


def request_from(args):
    from tweetops.pipeline.runs import Request

    return Request(args.params, {"data.source": args.source, "split.labeled_fraction": args.labeled_fraction,
                                 "tracking.enabled": False if args.no_tracking else None})


def stage_main(name: str, stage, argv=None) -> int:
    """`python -m tweetops.pipeline.<name> [options]`: the same as `tweetops stage <name> [options]`."""
    parser = argparse.ArgumentParser(prog=f"python -m tweetops.pipeline.{name}", description=f"the {name} stage")
    add_stage_options(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import json

    from tweetops.errors import guarded
    from tweetops.pipeline.runs import execute
    from tweetops.settings import configure_logging, limit_threads

    def main() -> int:
        configure_logging(args.log_level)
        limit_threads()
        print(json.dumps(execute(name, stage, request_from(args)), indent=2, default=str))
        return 0

    return guarded(main)
