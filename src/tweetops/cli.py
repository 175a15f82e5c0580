"""The `tweetops` command: the only place commands are wired to the layers below.

Building the parser imports only argparse and tweetops' light modules; each command imports what it
needs when it runs, so `tweetops --help` answers in a few tens of milliseconds
(benchmarks/cli_startup.py). Errors a user can cause print one sentence on stderr and exit with
status 2; no traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

from tweetops import __version__
from tweetops.pipeline.options import LOG_LEVELS, add_stage_options, request_from
from tweetops.pipeline.order import ORDER


def _log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default=None, type=str.upper, choices=LOG_LEVELS,
                        help="log level (default: LOG_LEVEL or INFO)")


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    parser.add_argument("--no-tracking", action="store_true", help="the local registry (models/champion), not MLflow")


def _shown(path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _config(args):
    from tweetops.settings import load_config

    return load_config(args.params, **({"tracking.enabled": False} if getattr(args, "no_tracking", False) else {}))


# -- the pipeline and the release chain ----------------------------------------------------------

def cmd_run(args) -> int:
    from tweetops.pipeline.runner import run_all
    from tweetops.release.publish import NotPublished, publish
    from tweetops.settings import load_config

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
    import json

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
    from tweetops.errors import TweetopsError
    from tweetops.release.registry import open_registry, promote, rollback, status_lines

    config = _config(args)
    if args.action == "promote" and not args.version:
        raise TweetopsError("registry promote needs a VERSION; `tweetops registry status` lists them.")
    store = open_registry(config.params.tracking, config.catalog)
    with store.guard():
        if args.action == "status":
            print("\n".join(status_lines(store)))
        elif args.action == "promote":
            print(promote(store, args.version, "promoted by hand (tweetops registry promote)"))
        else:
            print(rollback(store))
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from tweetops.errors import TweetopsError
    from tweetops.io.files import write_text
    from tweetops.release import compare, pr_comment, reports
    from tweetops.settings import environment, load_config

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
    from tweetops.model.bundle import load_bundle
    from tweetops.serving.inference import resolve_model
    from tweetops.settings import project_root

    choice = resolve_model(args.model, Catalog(project_root(args.params)))
    load_bundle(choice.path)  # what serve would refuse, this refuses too
    print(choice.path.resolve())
    print(f"{choice.note}", file=sys.stderr)
    return 0


def cmd_batch(args) -> int:
    import json

    from tweetops.errors import TweetopsError
    from tweetops.serving import batch

    summary = batch.run(args.input, args.output, text_column=args.text_column, chunk_size=args.chunk_size,
                        model_dir=args.model)
    print(json.dumps(summary))
    if summary["rows_in"] and summary["rows_flagged"] == summary["rows_in"]:
        # Rows are kept, flagged, whatever happens; but a shard that predicted nothing is a failed job (a wrong
        # format or column, most likely), which AWS Batch and CI must see.
        raise TweetopsError(f"every one of the {summary['rows_in']:,} rows was flagged and none predicted (see the "
                            f"error column of {summary['output']}); check the input's format and --text-column.")
    return 0


def cmd_monitor(args) -> int:
    from tweetops.monitoring.monitor import monitor
    from tweetops.settings import load_config

    return monitor(load_config(args.params), input_uri=args.input, history=args.history, model=args.model,
                   window_hours=args.window_hours, max_rows=args.max_rows, output=args.output,
                   pushgateway=args.pushgateway, text_column=args.text_column)


def cmd_notify(args) -> int:
    from tweetops.monitoring.notify import notify

    sys.stdout.write(notify(args.channel, args.report))
    return 0


def _without_password(value: str) -> str:
    """A URL's password replaced by ***: DATABASE_URL and MLFLOW_TRACKING_URI may carry one."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if "://" not in value or parts.password is None:
        return value
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def cmd_env(args) -> int:
    from tweetops.settings import SM_CHANNEL, Environment, environment

    environment()  # a bad value is refused here with its sentence, as every command would
    rows = []
    for name, about, secret in Environment.variables():
        if name.startswith(SM_CHANNEL):  # a family: each one set, as it is set
            value = ", ".join(f"{key}={_without_password(raw)}" for key, raw in sorted(os.environ.items())
                              if key.startswith(SM_CHANNEL) and raw)
            rows.append((name, value or "-", about))
            continue
        value = os.environ.get(name, "").strip()
        rows.append((name, "(set, hidden)" if secret and value else _without_password(value) or "-", about))
    width = max(len(name) for name, _, _ in rows)
    for name, value, about in rows:
        print(f"{name:<{width}}  {about}\n{'':<{width}}  = {value}" if args.values else f"{name:<{width}}  {about}")
    return 0


# -- the parser ----------------------------------------------------------------------------------

# resolve_model's order (tweetops.serving.inference), for every --model.
MODEL_DEFAULT = ("(default: MODEL_DIR, else MODEL_URI, else SageMaker's /opt/ml/model, else the image's bundle, "
                 "else the champion, else, where none was ever published, the newest bundle its gate promoted)")

MAIN_EPILOG = """\
commands in the order of a model's life: run (or stage) -> gate -> publish -> serve / batch-predict
-> monitor -> notify; registry, report and model-path look at what is there.

environment: every command reads its defaults from variables such as LOG_LEVEL, TWEETOPS_PARAMS,
TWEETOPS_SOURCE, TWEETOPS_TRACKING, MLFLOW_TRACKING_URI, MODEL_DIR, PORT, WEB_CONCURRENCY,
TWEETOPS_API_KEYS and DATABASE_URL; `tweetops env` lists all of them with what they do.

exit status: 0 done, 2 a mistake to fix or a full disk (one sentence on stderr), 3 drift and 4 not enough data
(monitor), 130 interrupted.

examples:
  tweetops run                          train on the bundled tweets, publish if the gate promotes
  tweetops serve                        the API on port 8080 (PORT)
  tweetops COMMAND --help               what a command does, its options and an example"""


def _command(sub, name: str, summary: str, about: str, examples: list[str], func=None) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (in `tweetops --help`), a description and examples."""
    epilog = "example" + ("s" if len(examples) > 1 else "") + ":\n" + "\n".join(f"  {e}" for e in examples)
    parser = sub.add_parser(name, help=summary, description=about, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tweetops", description="Tweet sentiment (negative / neutral / positive): "
                                     "train, publish, serve, monitor.", epilog=MAIN_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tweetops {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(sub, "run", "run the six stages, then publish the model if its gate promoted it",
                 "Run the six stages (data_ingestion ... model_training) on the data source, write models/<run_id> "
                 "and reports/<run_id>, then publish the model as the champion if its gate promoted it. A run that "
                 "fails leaves every earlier output exactly as it was.",
                 ["tweetops run", "tweetops run --source data/raw/tweets_GroundTruth.txt --labeled-fraction 0.5",
                  "TWEETOPS_RUN_ID=try-1 tweetops run --no-tracking"], cmd_run)
    add_stage_options(p)
    p = _command(sub, "stage", "run one pipeline stage (registers and publishes nothing)",
                 "Run one stage of the current run: the stage before it must have finished for the same run. The "
                 "first stage starts a new run; model_training writes the bundle and the gate's verdict but "
                 "publishes nothing (that is `tweetops publish`).",
                 ["tweetops stage data_ingestion --source data/raw/tweets_GroundTruth.txt",
                  "tweetops stage model_training --log-level DEBUG"], cmd_stage)
    p.add_argument("name", choices=ORDER, help="the stage: " + ", ".join(ORDER))
    add_stage_options(p)
    p = _command(sub, "publish", "make a trained run the champion, if its gate promoted it",
                 "Register a trained run's bundle (MLflow's registry, or the local models/champion with tracking "
                 "off) and make it the champion, if its gate promoted it and it still verifies.",
                 ["tweetops publish 20261202T071609Z"], cmd_publish)
    p.add_argument("run_id", help="the run to publish (models/<run_id>)")
    _project(p)
    _log_level(p)
    p = _command(sub, "gate", "fail unless the bundle's model beats every baseline; print its verdict",
                 "Check a bundle against the baselines (majority class, the model without pseudo-labels, the VADER "
                 "rule): exit 0 when it beats every one, 2 otherwise; print the verdict.",
                 ["tweetops gate --bundle models/20261202T071609Z --output gate.json"], cmd_gate)
    p.add_argument("--bundle", required=True, help="model bundle folder, e.g. models/<run_id>")
    p.add_argument("--output", default=None, help="also write the verdict JSON here")
    _log_level(p)
    p = _command(sub, "registry", "show the published versions, promote one, or roll back the champion",
                 "The published versions and the champion's history (status), make a published version the "
                 "champion (promote VERSION), or move the champion back to the one before it (rollback).",
                 ["tweetops registry status", "tweetops registry promote 3", "tweetops registry rollback"],
                 cmd_registry)
    p.add_argument("action", choices=("status", "promote", "rollback"))
    p.add_argument("version", nargs="?", help="for promote: a published version (local registry: its run id)")
    _project(p)
    _log_level(p)

    report = _command(sub, "report", "reports about runs (compare, summary, comment)",
                      "Markdown reports the workflows post: two runs compared, a retrain's job summary, a pull "
                      "request comment.", ["tweetops report compare models/champion models/20261202T071609Z"])
    report = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    p = _command(report, "compare", "Markdown: HEAD's metrics against BASE's, with deltas and the gate",
                 "HEAD's metrics against BASE's, per class, with the deltas and HEAD's gate verdict, as Markdown.",
                 ["tweetops report compare models/champion models/20261202T071609Z --output compare.md"],
                 cmd_report)
    p.add_argument("base", help="the base run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("head", help="the new run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("--output", default=None, help="write the Markdown here instead of stdout")
    p = _command(report, "summary", "Markdown for the retrain workflow's job summary",
                 "The retrain workflow's job summary for a run: metrics, the gate, the image and what was "
                 "published.", ["tweetops report summary 20261202T071609Z --published yes --image-tag tweetops:808"],
                 cmd_report)
    p.add_argument("run_id")
    p.add_argument("--published", default="not reached", help="what happened to the publication")
    p.add_argument("--image-tag", action="append", default=[], help="an image tag (repeatable)")
    p.add_argument("--push-status", default="not reached", help="what happened to the container registry push")
    p.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    p = _command(report, "comment", "post a report on a pull request, updating its earlier comment in place",
                 "Post a Markdown report as a pull request comment, or update the one posted before (GITHUB_TOKEN "
                 "or GH_TOKEN; GITHUB_API_URL).", ["tweetops report comment compare.md --repo owner/name --pr 12"],
                 cmd_report)
    p.add_argument("body", help="the Markdown file (from `tweetops report compare --output`)")
    p.add_argument("--repo", default=None, help="owner/name (default: GITHUB_REPOSITORY)")
    p.add_argument("--pr", type=int, required=True, help="the pull request's number")

    p = _command(sub, "serve", "serve the HTTP API (and SageMaker's /ping, /invocations)",
                 "Serve the API: /predict, /predict/batch, /predictions, /model, /metrics, and SageMaker's /ping, "
                 "/invocations and /execution-parameters. The model is MODEL_DIR or MODEL_URI, else the champion; "
                 "TWEETOPS_API_KEYS turns auth on; DATABASE_URL stores the history in PostgreSQL.",
                 ["tweetops serve", "PORT=9000 WEB_CONCURRENCY=4 TWEETOPS_API_KEYS=secret tweetops serve"], cmd_serve)
    p.add_argument("--host", default=None, help="address to listen on (default: HOST or 0.0.0.0)")
    p.add_argument("--port", type=int, default=None, help="port (default: PORT or 8080)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: WEB_CONCURRENCY or 2)")
    _log_level(p)
    p = _command(sub, "model-path", "print the bundle folder serve and batch-predict would load, and why",
                 "Print the bundle folder `serve` and `batch-predict` would load (after checking its hashes), and "
                 "on stderr why that one.", ["tweetops model-path", "tweetops model-path --model models/r1"],
                 cmd_model_path)
    p.add_argument("--model", default=None, help=f"a bundle folder to check instead {MODEL_DEFAULT}")
    p.add_argument("--params", default=None,
                   help="params file, whose folder is the project (default: TWEETOPS_PARAMS or ./params.yaml)")
    _log_level(p)
    p = _command(sub, "batch-predict", "predict every row of a TSV/CSV/JSONL/Parquet/text file (local or s3://)",
                 "Predict every row of a file, streamed in chunks, and write it back with label and probabilities "
                 "added; rows whose text cannot be read are flagged, not dropped. In an AWS Batch array job each "
                 "shard (AWS_BATCH_JOB_ARRAY_INDEX of AWS_BATCH_JOB_ARRAY_SIZE) writes its own part file.",
                 ["tweetops batch-predict --input tweets.csv --output predicted.parquet",
                  "tweetops batch-predict --input s3://bucket/in.parquet --output s3://bucket/out/"], cmd_batch)
    p.add_argument("--input", required=True,
                   help="input file: path or s3://bucket/key (.tsv, .csv, .jsonl, .parquet, or .txt: one text per "
                        "line, or the archive's TSV when it holds tabs)")
    p.add_argument("--output", required=True,
                   help="output file (unsharded; .csv, .jsonl or .parquet, whatever the input), or folder/prefix "
                        "(an existing folder, or a name ending in /) for part-NNNNN-of-NNNNN files (the input's "
                        "format; CSV for TSV and text)")
    p.add_argument("--text-column", default="text", help="the column holding the texts (default: text)")
    p.add_argument("--chunk-size", type=int, default=10_000, help="rows per chunk (default: 10000)")
    p.add_argument("--model", default=None, help=f"model bundle folder {MODEL_DEFAULT}")
    _log_level(p)
    p = _command(sub, "monitor", "compare recent predictions with the model's training reference (drift)",
                 "Judge whether recent texts (the prediction history, or a file) drifted from the model's training "
                 "reference, and write drift.json and drift.html. Exit status: 0 no drift, 3 drift, 4 not enough "
                 "data (fewer than monitoring.min_samples texts), 2 a mistake to fix.",
                 ["tweetops monitor", "tweetops monitor --input current.csv --output reports/monitoring/today"],
                 cmd_monitor)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--history", default=None,
                        help="prediction history database URL (default: DATABASE_URL, else the API's SQLite file)")
    source.add_argument("--input", default=None,
                        help="a file of current texts instead (TSV/CSV/JSONL/Parquet, or .txt: one text per line)")
    p.add_argument("--text-column", default="text", help="with --input: the column holding the texts (default: text)")
    p.add_argument("--model", default=None, help=f"model bundle folder {MODEL_DEFAULT}")
    p.add_argument("--window-hours", type=float, default=None, help="history window (default: monitoring.window_hours)")
    p.add_argument("--max-rows", type=int, default=None,
                   help="newest texts taken at most (default: monitoring.max_rows)")
    p.add_argument("--output", default=None, help="report folder (default: reports/monitoring/<UTC time>)")
    p.add_argument("--pushgateway", default=None, metavar="URL",
                   help="push the verdict's gauges to this Prometheus Pushgateway (default: PUSHGATEWAY_URL)")
    p.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or ./params.yaml)")
    _log_level(p)
    p = _command(sub, "notify", "the drift monitor's job summary (Markdown) or Slack message",
                 "Turn a monitor's drift.json into the workflow's job summary (Markdown on stdout) or post it to "
                 "Slack (SLACK_WEBHOOK_URL).", ["tweetops notify summary reports/monitoring/today/drift.json"],
                 cmd_notify)
    p.add_argument("channel", choices=("summary", "slack"))
    p.add_argument("report", help="the monitor's drift.json")
    p = _command(sub, "env", "list the environment variables tweetops reads",
                 "Every environment variable tweetops reads and what it does; --values shows each one's value here "
                 "(secrets only as set or not).", ["tweetops env", "tweetops env --values"], cmd_env)
    p.add_argument("--values", action="store_true", help="also show each variable's value (secrets hidden)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from tweetops.errors import guarded

    def command() -> int:
        from tweetops.settings import configure_logging, limit_threads

        configure_logging(getattr(args, "log_level", None))
        limit_threads()
        return args.func(args)

    return guarded(command, sigterm=args.command != "serve")  # the server stops gracefully on its own


if __name__ == "__main__":
    raise SystemExit(main())
