"""The `tweetops` command: the only place commands are wired to the layers below.

Each command imports what it needs when it runs, so `tweetops --help` stays light. Errors a user can
cause print one sentence on stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tweetops.errors import TweetopsError, guarded
from tweetops.logs import setup_logging
from tweetops.pipeline.options import LOG_LEVELS, add_stage_options, request_from
from tweetops.pipeline.runs import ORDER
from tweetops.settings import environment, limit_threads, load_config, project_root


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default=None, type=str.upper, choices=LOG_LEVELS,
                        help="log level (default: LOG_LEVEL or INFO)")


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    parser.add_argument("--no-tracking", action="store_true", help="the local registry (models/champion), not MLflow")


def _shown(path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _config(args):
    return load_config(args.params, **({"tracking.enabled": False} if getattr(args, "no_tracking", False) else {}))


# -- the pipeline and the release chain ----------------------------------------------------------

def cmd_run(args) -> int:
    from tweetops.pipeline.runner import run_all
    from tweetops.release.publish import NotPublished, publish

    request = request_from(args)
    training = run_all(request)["model_training"]
    print(f"model:   {_shown(training['bundle'])}\nsummary: {_shown(training['reports'])}/summary.md\n"
          f"{training['headline']}")
    print(f"gate:    {training['gate']['sentence']}")
    try:
        outcome = publish(load_config(args.params, **request.overrides), training["run_id"])["sentence"]
    except NotPublished as exc:
        outcome = f"not published: {exc}"
    print(f"publish: {outcome}")
    return 0


def cmd_stage(args) -> int:
    from tweetops.pipeline.runner import run_stage

    print(json.dumps(run_stage(args.name, request_from(args)), indent=2, default=str))
    return 0


def cmd_publish(args) -> int:
    from tweetops.release.publish import publish

    print(publish(_config(args), args.run_id)["sentence"])
    return 0


def cmd_gate(args) -> int:
    from tweetops.release.gate import check_bundle

    verdict = check_bundle(args.bundle, args.output)
    print(verdict["baselines"]["sentence"])
    print(f"verdict: {verdict['sentence']}")
    return 0


def cmd_registry(args) -> int:
    from tweetops.release.registry import open_registry, status_lines

    config = _config(args)
    if args.action == "promote" and not args.version:
        raise TweetopsError("registry promote needs a VERSION; `tweetops registry status` lists them.")
    store = open_registry(config.params.tracking, config.catalog)
    with store.guard():
        if args.action == "status":
            print("\n".join(status_lines(store)))
        elif args.action == "promote":
            store.promote(args.version, "promoted by hand (tweetops registry promote)")
            print(f"champion is now version {args.version}")
        else:
            old, new = store.rollback()
            print(f"rolled back: champion moved from version {old} to version {new}")
    return 0


def cmd_report(args) -> int:
    from tweetops.io.files import write_text
    from tweetops.release import compare, pr_comment, reports

    if args.report == "compare":
        text = compare.compare(args.base, args.head)
        if args.output:
            write_text(args.output, text)
        else:
            print(text, end="")
    elif args.report == "summary":
        catalog = load_config(args.params).catalog
        print(reports.job_summary(catalog.bundle(args.run_id), args.published, args.image_tag, args.push_status))
    else:
        repo = args.repo or environment().github_repository
        if not repo:
            raise TweetopsError("no repository: pass --repo owner/name or set GITHUB_REPOSITORY.")
        try:
            body = Path(args.body).read_text(encoding="utf-8")
        except OSError:
            raise TweetopsError(f"{args.body} not found; write it first with `tweetops report compare --output`.")
        done = pr_comment.upsert(repo, args.pr, body, compare.MARKER)
        print(f"{done['action']} comment {done['id']} on {repo}#{args.pr}")
    return 0


# -- serving and monitoring ----------------------------------------------------------------------

def cmd_serve(args) -> int:
    from tweetops.serving.server import ServeSettings, serve

    return serve(ServeSettings.from_env(host=args.host, port=args.port, workers=args.workers, log_level=args.log_level))


def cmd_model_path(args) -> int:
    from tweetops.catalog import Catalog
    from tweetops.model.bundle import verify_bundle
    from tweetops.serving.inference import resolve_model

    choice = resolve_model(args.model, Catalog(project_root(args.params)))
    verify_bundle(choice.path)  # what serve would refuse, this refuses too
    print(choice.path.resolve())
    print(f"{choice.note}", file=sys.stderr)
    return 0


def cmd_batch(args) -> int:
    from tweetops.serving import batch

    print(json.dumps(batch.run(args.input, args.output, text_column=args.text_column, chunk_size=args.chunk_size,
                               model_dir=args.model)))
    return 0


def cmd_monitor(args) -> int:
    from tweetops.monitoring.monitor import monitor

    return monitor(load_config(args.params), input_uri=args.input, history=args.history, model=args.model,
                   window_hours=args.window_hours, max_rows=args.max_rows, output=args.output)


def cmd_notify(args) -> int:
    from tweetops.monitoring.notify import notify

    sys.stdout.write(notify(args.channel, args.report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetops", description="Tweet sentiment: train, publish, serve, monitor.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the six stages, then publish the model if its gate promoted it")
    add_stage_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("stage", help="run one pipeline stage (registers and publishes nothing)")
    p.add_argument("name", choices=ORDER)
    add_stage_options(p)
    p.set_defaults(func=cmd_stage)
    p = sub.add_parser("publish", help="make a trained run the champion, if its gate promoted it")
    p.add_argument("run_id", help="the run to publish (models/<run_id>)")
    _project(p)
    _log_level(p)
    p.set_defaults(func=cmd_publish)
    p = sub.add_parser("gate", help="fail unless the bundle's model beats every baseline; print its verdict")
    p.add_argument("--bundle", required=True, help="model bundle folder, e.g. models/<run_id>")
    p.add_argument("--output", default=None, help="also write the verdict JSON here")
    _log_level(p)
    p.set_defaults(func=cmd_gate)
    p = sub.add_parser("registry", help="show the published versions, promote one, or roll back the champion")
    p.add_argument("action", choices=("status", "promote", "rollback"))
    p.add_argument("version", nargs="?", help="for promote: a published version (local registry: its run id)")
    _project(p)
    _log_level(p)
    p.set_defaults(func=cmd_registry)

    report = sub.add_parser("report", help="reports about runs").add_subparsers(dest="report", required=True)
    p = report.add_parser("compare", help="Markdown: HEAD's metrics against BASE's, with deltas and the gate")
    p.add_argument("base", help="the base run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("head", help="the new run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("--output", default=None, help="write the Markdown here instead of stdout")
    p = report.add_parser("summary", help="Markdown for the retrain workflow's job summary")
    p.add_argument("run_id")
    p.add_argument("--published", default="not reached", help="what happened to the publication")
    p.add_argument("--image-tag", action="append", default=[], help="an image tag (repeatable)")
    p.add_argument("--push-status", default="not reached", help="what happened to the container registry push")
    p.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    p = report.add_parser("comment", help="post a report on a pull request, updating its earlier comment in place")
    p.add_argument("body", help="the Markdown file (from `tweetops report compare --output`)")
    p.add_argument("--repo", default=None, help="owner/name (default: GITHUB_REPOSITORY)")
    p.add_argument("--pr", type=int, required=True, help="the pull request's number")
    for name in ("compare", "summary", "comment"):
        report.choices[name].set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="serve the HTTP API (and SageMaker's /ping, /invocations)")
    p.add_argument("--host", default=None, help="address to listen on (default: HOST or 0.0.0.0)")
    p.add_argument("--port", type=int, default=None, help="port (default: PORT or 8080)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: WEB_CONCURRENCY or 2)")
    _log_level(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("model-path", help="print the bundle folder serve and batch-predict would load, and why")
    p.add_argument("--model", default=None, help="a bundle folder to check instead (default: MODEL_DIR, else the "
                                                 "champion)")
    p.add_argument("--params", default=None, help="params file, whose folder is the project (default: ./params.yaml)")
    _log_level(p)
    p.set_defaults(func=cmd_model_path)
    p = sub.add_parser("batch-predict", help="predict every row of a CSV/JSONL/Parquet file (local or s3://)")
    p.add_argument("--input", required=True, help="input file: path or s3://bucket/key (.csv, .jsonl, .parquet)")
    p.add_argument("--output", required=True,
                   help="output file (unsharded), or folder/prefix for part-NNNNN-of-NNNNN files")
    p.add_argument("--text-column", default="text", help="the column holding the texts (default: text)")
    p.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk (default: 10000)")
    p.add_argument("--model", default=None, help="model bundle folder (default: MODEL_DIR, else the champion)")
    _log_level(p)
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("monitor", help="compare recent predictions with the model's training reference (drift)",
                       epilog="exit status: 0 no drift, 3 drift, 4 not enough data (fewer than "
                              "monitoring.min_samples texts), 2 user error")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--history", default=None,
                        help="prediction history database URL (default: DATABASE_URL, else the API's SQLite file)")
    source.add_argument("--input", default=None,
                        help="a file of current texts instead (TSV/CSV/JSONL/Parquet with a 'text' column)")
    p.add_argument("--model", default=None, help="model bundle folder (default: MODEL_DIR, else the champion)")
    p.add_argument("--window-hours", type=float, default=None, help="history window (default: monitoring.window_hours)")
    p.add_argument("--max-rows", type=int, default=None,
                   help="newest texts taken at most (default: monitoring.max_rows)")
    p.add_argument("--output", default=None, help="report folder (default: reports/monitoring/<UTC time>)")
    p.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    _log_level(p)
    p.set_defaults(func=cmd_monitor)
    p = sub.add_parser("notify", help="the drift monitor's job summary (Markdown) or Slack message")
    p.add_argument("channel", choices=("summary", "slack"))
    p.add_argument("report", help="the monitor's drift.json")
    p.set_defaults(func=cmd_notify)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        setup_logging(getattr(args, "log_level", None) or environment().log_level)
        limit_threads()
        return args.func(args)

    return guarded(command, sigterm=args.command != "serve")  # the server stops gracefully on its own


if __name__ == "__main__":
    raise SystemExit(main())
