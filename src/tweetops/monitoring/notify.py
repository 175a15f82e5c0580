"""Tell people about a monitor run: a Markdown summary (the Actions job summary) and a Slack message.

`tweetops notify summary DRIFT_JSON` prints the Markdown; `tweetops notify slack DRIFT_JSON` posts to
SLACK_WEBHOOK_URL (a no-op when unset). RETRAIN_DISPATCHED=true and RUN_URL, when set, are in both.
"""
from __future__ import annotations

import json
from pathlib import Path

import requests

from tweetops.errors import TweetopsError
from tweetops.monitoring.report import VERDICT_TEXT
from tweetops.release import render
from tweetops.settings import environment

REPORT_KEYS = ("verdict", "reason", "source", "current_rows", "reference_rows", "model", "checks")  # what is read
CHECK_KEYS = ("name", "value", "threshold", "drift")


def _retrain_line() -> str:
    if environment().retrain_dispatched:
        return "Retraining dispatched: manual_retrain_pipeline.yml."
    return "No retraining dispatched."


def _model(result: dict) -> str:
    model = result["model"]
    return f"{model['version']} (test macro-F1 {render.score(model.get('macro_f1'))})"


def markdown(result: dict) -> str:
    lines = [f"## Drift monitor: {result['verdict'].replace('_', ' ')}", "", VERDICT_TEXT[result["verdict"]] + ".", "",
             f"{result['current_rows']:,} current texts from `{result['source']}` against "
             f"{result['reference_rows']:,} reference texts of model {_model(result)} ({result['reason']}).", ""]
    if result["checks"]:
        lines += render.table(["check", "value", "threshold", "result"],
                              [[c["name"], f"{c['value']:.4g}", f"{c['threshold']:g}",
                                "**drift**" if c["drift"] else "ok"] for c in result["checks"]])
        lines.append("")
    lines.append(_retrain_line())
    run_url = environment().run_url
    if run_url:
        lines.append(f"The full report (drift.html) is in the run's artefacts: {run_url}")
    return "\n".join(lines) + "\n"


def slack_message(result: dict) -> dict:
    fired = ", ".join(c["name"] for c in result["checks"] if c["drift"]) or "none"
    text = (f"tweetops drift monitor: *{result['verdict'].replace('_', ' ')}* for model {_model(result)} "
            f"({result['current_rows']:,} texts; checks fired: {fired}). " + _retrain_line())
    run_url = environment().run_url
    if run_url:
        text += f" <{run_url}|Report>"
    return {"text": text}


def post_slack(url: str, message: dict, timeout: float = 10.0) -> None:
    try:
        response = requests.post(url, json=message, timeout=timeout)
    except requests.RequestException as exc:
        raise TweetopsError(f"cannot reach the Slack webhook ({type(exc).__name__}); check SLACK_WEBHOOK_URL.")
    if response.status_code >= 400:
        raise TweetopsError(f"the Slack webhook answered {response.status_code}; check SLACK_WEBHOOK_URL.")


def read_result(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TweetopsError(f"cannot read the drift report {path} ({type(exc).__name__}).")
    missing = [key for key in REPORT_KEYS if not isinstance(result, dict) or key not in result]
    if not missing and result["verdict"] not in VERDICT_TEXT:
        missing = ["known verdict"]
    if not missing:
        checks = result["checks"] if isinstance(result["checks"], list) else [None]
        missing = [f"checks[{i}].{key}" for i, check in enumerate(checks) for key in CHECK_KEYS
                   if not isinstance(check, dict) or key not in check][:1]
    if missing:  # another JSON file given by mistake, or a report cut short
        raise TweetopsError(f"{path} is not a drift report written by `tweetops monitor` (it has no "
                            f"{missing[0]!r}); pass the monitor's drift.json.")
    return result


def notify(channel: str, report: Path) -> str:
    """`tweetops notify summary|slack DRIFT_JSON`: the Markdown, or what happened with Slack."""
    result = read_result(report)
    if channel == "summary":
        return markdown(result)
    webhook = environment().slack_webhook_url
    if webhook is None:
        return "SLACK_WEBHOOK_URL is not set; Slack not notified.\n"
    post_slack(webhook.get_secret_value(), slack_message(result))
    return "Slack notified.\n"
