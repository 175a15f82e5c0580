"""The one renderer of metrics and verdicts, in Markdown and plain sentences.

The run's summary.md, the model card, the pull-request comment, the retrain job summary, the Slack
message and `tweetops registry status` all render through it, so a metric has one name, one
precision and one layout wherever it is read.
"""
from __future__ import annotations

from tweetops.model import LABELS

NAMES = {"macro_f1": "macro-F1", "accuracy": "accuracy", "majority_class": "majority class",
         "supervised_only": "same model without pseudo-labels", "vader_compound": "VADER compound rule",
         "linear_model": "the linear half alone"}
METRIC_HEADER = ["macro-F1", "accuracy", *(f"F1 {label}" for label in LABELS)]


def name(key: str) -> str:
    """What people call a metric or a baseline."""
    return NAMES.get(key, key.replace("_", " "))


def score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    return ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def metric_cells(metrics: dict) -> list[str]:
    """macro-F1, accuracy and each class's F1 of one evaluate() result."""
    return [score(metrics["macro_f1"]), score(metrics["accuracy"]),
            *(score(metrics["per_class"][label]["f1"]) for label in LABELS)]


def results_table(manifest: dict, extra: dict[str, list[str]] | None = None,
                  extra_header: list[str] | None = None) -> list[str]:
    """The model against its baselines on the test split; `extra` adds cells to rows by key ("model" too)."""
    extra = extra or {}
    rows = [["**this model**", *metric_cells(manifest["metrics"]), *extra.get("model", [])]]
    rows += [[name(key), *metric_cells(m), *extra.get(key, [])] for key, m in manifest["baselines"].items()]
    return table(["model", *METRIC_HEADER, *(extra_header or [])], rows)


def confusion_table(matrix: list[list[int]], base: list[list[int]] | None = None) -> list[str]:
    """Rows: true label; columns: predicted. With `base`, each cell also shows its change."""
    rows = [[label, *(str(n) if base is None else f"{n} ({n - base[i][j]:+d})" for j, n in enumerate(row))]
            for i, (label, row) in enumerate(zip(LABELS, matrix))]
    return table(["true \\ predicted", *LABELS], rows)


def pseudo_labels_used(manifest: dict) -> bool:
    """Whether the training stage's ablation kept the pseudo-labels (else supervised_only is the model itself)."""
    return bool((manifest.get("ablation") or {}).get("used", False))


def headline(manifest: dict) -> str:
    """One line: the model's macro-F1 and each rival baseline's (without pseudo-labels in use, "same model without
    pseudo-labels" is the model itself: listed beside it, its equal score read as a tie the gate says it beat)."""
    itself = not pseudo_labels_used(manifest)
    rivals = ", ".join(f"{name(k)} {score(v['macro_f1'])}" for k, v in manifest["baselines"].items()
                       if not (k == "supervised_only" and itself))
    return f"macro-F1 {score(manifest['metrics']['macro_f1'])} (baselines: {rivals})"


def baselines_sentence(decision: dict) -> str:
    """The baselines part of the gate, as one sentence."""
    run, model = decision["run_id"], score(decision["model"])
    if decision["passed"]:
        rivals = [r for r in decision["baselines"] if r["beaten"]]
        return (f"gate passed: run {run} macro-F1 {model} beats "
                + ", ".join(f"{name(r['baseline'])} ({score(r['macro_f1'])})" for r in rivals) + ".")
    lost = [r for r in decision["baselines"] if r["beaten"] is False]
    return (f"gate failed: run {run} macro-F1 {model} does not beat "
            + ", ".join(f"{name(r['baseline'])} ({score(r['macro_f1'])})" for r in lost)
            + "; do not publish this model (see the run's reports).")


def verdict_sentence(verdict: dict) -> str:
    word = "promoted" if verdict["promote"] else "not promoted"
    if verdict["against"] == "baselines" and not verdict["champion"]:
        beats = "beats every baseline" if verdict["baselines"]["passed"] else "does not beat every baseline"
        few = [reason for reason in verdict["reasons"] if "gate.min_test_rows" in reason]
        return f"{word}: " + "; ".join([*few, f"no champion to compare with and the model {beats}"])
    return f"{word}: " + "; ".join(verdict["reasons"])


def verdict_section(verdict: dict | None, heading: str = "## Promotion gate") -> list[str]:
    """The gate's decision and its reasons, for summary.md, the model card and the job summary."""
    if not verdict:
        return []
    # Verdicts made before the minimum existed do not name it.
    minimum = f", min_test_rows {verdict['min_test_rows']}" if "min_test_rows" in verdict else ""
    against = ("the baselines (no champion yet)" if not verdict["champion"] else f"champion {verdict['champion']}"
               if verdict["against"] == "champion" else f"the baselines (champion {verdict['champion']} not scored)")
    return [heading, "", f"Decision: **{'promoted' if verdict['promote'] else 'not promoted'}** (challenger "
            f"{verdict['challenger']} against {against}; min_delta {verdict['min_delta']}, max_class_drop "
            f"{verdict['max_class_drop']}{minimum}).", "", *[f"- {reason}" for reason in verdict["reasons"]], ""]
