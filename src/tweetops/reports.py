"""The run's human-readable reports: metrics.json, confusion_matrix.png and summary.md."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tweetops.config import LABELS
from tweetops.io import atomic_path, write_json, write_parquet, write_text


def plot_confusion(path: Path, matrix: list[list[int]], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=120)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (crowd mean rating)")
    ax.set_title(title, fontsize=10)
    for (i, j), value in np.ndenumerate(cm):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > cm.max() / 2 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _metric_rows(manifest: dict) -> list[str]:
    rows = ["| model | macro-F1 | accuracy | F1 negative | F1 neutral | F1 positive |",
            "|---|---:|---:|---:|---:|---:|"]
    baselines = [(name.replace("_", " "), m) for name, m in manifest["baselines"].items()]
    entries = [("**this model**", manifest["metrics"])] + baselines
    for name, m in entries:
        per = m["per_class"]
        rows.append(f"| {name} | {m['macro_f1']:.4f} | {m['accuracy']:.4f} | "
                    + " | ".join(f"{per[label]['f1']:.4f}" for label in LABELS) + " |")
    return rows


def gate_lines(gate: dict | None) -> list[str]:
    """The champion/challenger decision and its reasons (tweetops.gate.challenge)."""
    if not gate:
        return []
    against = f"champion {gate['champion']}" if gate["champion"] else "the baselines (no champion yet)"
    return ["## Promotion gate", "", f"Decision: **{'promoted' if gate['promote'] else 'not promoted'}** "
            f"(challenger {gate['challenger']} against {against}; min_delta {gate['min_delta']}, "
            f"max_class_drop {gate['max_class_drop']}).", "", *[f"- {reason}" for reason in gate["reasons"]], ""]


def render_summary(manifest: dict) -> str:
    prep = manifest["data"]["preparation"]
    abl = manifest["ablation"]
    cm = manifest["metrics"]["confusion_matrix"]
    lines = [
        f"# Run {manifest['run_id']}", "",
        f"Git commit `{manifest['git_commit']}`; data `{manifest['data']['source']}` "
        f"(sha256 `{manifest['data']['sha256'][:16]}...`, {manifest['data']['rows']:,} rows).", "",
        "## Test-split metrics against baselines", "", *_metric_rows(manifest), "",
        "## Confusion matrix (rows: true, columns: predicted)", "",
        "| | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS),
        *[f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(LABELS, cm)], "",
        *gate_lines(manifest.get("gate")),
        "## Pseudo-label ablation", "",
        f"Used: **{'yes' if abl['used'] else 'no'}**. {abl['reason'][0].upper() + abl['reason'][1:]}.", "",
        "## Data counts", "",
        f"- rows in {prep['rows_in']:,} = kept {prep['rows_kept']:,} + quarantined {prep['rows_quarantined']:,}",
        f"- quarantine reasons: {prep['quarantine_reasons'] or 'none'}",
        f"- train {prep['train']:,} ({prep['train_labeled']:,} with gold labels, "
        f"{prep['train_unlabeled']:,} unlabelled), "
        f"test {prep['test']:,}",
        f"- labels: {', '.join(f'{k} {v:,}' for k, v in prep['labels'].items())}",
    ]
    return "\n".join(lines) + "\n"


def write_run_reports(folder: Path, manifest: dict, test: pd.DataFrame, probabilities: np.ndarray) -> list[Path]:
    folder = Path(folder)
    predictions = test[["id", "text", "label"]].copy()
    predictions["predicted"] = np.array(LABELS, dtype=object)[probabilities.argmax(axis=1)]
    for i, label in enumerate(LABELS):
        predictions[f"p_{label}"] = probabilities[:, i]
    metrics = {key: manifest[key] for key in ("run_id", "metrics", "baselines", "ablation", "clustering")}
    return [
        write_json(folder / "metrics.json", metrics),
        plot_confusion(folder / "confusion_matrix.png", manifest["metrics"]["confusion_matrix"],
                       f"run {manifest['run_id']}: macro-F1 {manifest['metrics']['macro_f1']:.3f}"),
        write_text(folder / "summary.md", render_summary(manifest)),
        write_parquet(folder / "test_predictions.parquet", predictions),
    ]
