"""Tell people about a monitor run: a Markdown summary (the Actions job summary) and a Slack message.

`python -m tweetops.monitoring.notify summary DRIFT_JSON` prints the Markdown;
`python -m tweetops.monitoring.notify slack DRIFT_JSON` posts to SLACK_WEBHOOK_URL (a no-op when unset).
RETRAIN_DISPATCHED=true and RUN_URL, when set, are mentioned in both.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tweetops.errors import TweetopsError
from tweetops.monitoring.report import VERDICT_TEXT


def _retrain_line() -> str:
    if os.environ.get("RETRAIN_DISPATCHED") == "true":
        return "Retraining dispatched: manual_retrain_pipeline.yml."
    return "No retraining dispatched."


def markdown(result: dict) -> str:
    lines = [f"## Drift monitor: {result['verdict'].replace('_', ' ')}", "", VERDICT_TEXT[result["verdict"]] + ".", "",
             f"{result['current_rows']:,} current texts from `{result['source']}` against "
             f"{result['reference_rows']:,} reference texts of model `{result['model']['version']}` "
             f"({result['reason']}).", ""]
    if result["checks"]:
        lines += ["| check | value | threshold | result |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['value']:.4g} | {c['threshold']:g} | {'**drift**' if c['drift'] else 'ok'} |"
                  for c in result["checks"]]
        lines.append("")
    lines.append(_retrain_line())
    if os.environ.get("RUN_URL"):
        lines.append(f"The full report (drift.html) is in the run's artefacts: {os.environ['RUN_URL']}")
    return "\n".join(lines) + "\n"


def slack_message(result: dict) -> dict:
    fired = ", ".join(c["name"] for c in result["checks"] if c["drift"]) or "none"
    text = (f"tweetops drift monitor: *{result['verdict'].replace('_', ' ')}* for model "
            f"{result['model']['version']} ({result['current_rows']:,} texts; checks fired: {fired}). "
            + _retrain_line())
    if os.environ.get("RUN_URL"):
        text += f" <{os.environ['RUN_URL']}|Report>"
    return {"text": text}


def post_slack(url: str, message: dict, timeout: float = 10.0) -> None:
    import requests

    try:
        response = requests.post(url, json=message, timeout=timeout)
    except requests.RequestException as exc:
        raise TweetopsError(f"cannot reach the Slack webhook ({type(exc).__name__}); check SLACK_WEBHOOK_URL.")
    if response.status_code >= 400:
        raise TweetopsError(f"the Slack webhook answered {response.status_code}; check SLACK_WEBHOOK_URL.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tweetops.monitoring.notify")
    parser.add_argument("channel", choices=["summary", "slack"])
    parser.add_argument("report", type=Path, help="the monitor's drift.json")
    args = parser.parse_args(argv)
    try:
        try:
            result = json.loads(args.report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TweetopsError(f"cannot read the drift report {args.report} ({type(exc).__name__}).")
        if args.channel == "summary":
            sys.stdout.write(markdown(result))
        elif os.environ.get("SLACK_WEBHOOK_URL"):
            post_slack(os.environ["SLACK_WEBHOOK_URL"], slack_message(result))
            print("Slack notified.")
        else:
            print("SLACK_WEBHOOK_URL is not set; Slack not notified.")
    except TweetopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
