"""The run's human-readable reports (metrics.json, confusion_matrix.png, summary.md, test predictions), and
the retrain workflow's job summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tweetops.errors import TweetopsError
from tweetops.io.files import atomic_path, write_json, write_parquet, write_text
from tweetops.model import LABELS, predicted_labels
from tweetops.model.bundle import verify_bundle
from tweetops.release import render


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


def render_summary(manifest: dict) -> str:
    prep = manifest["data"]["preparation"]
    abl = manifest["ablation"]
    cm = manifest["metrics"]["confusion_matrix"]
    lines = [
        f"# Run {manifest['run_id']}", "",
        f"Git commit `{manifest['git_commit']}`; data `{manifest['data']['source']}` "
        f"(sha256 `{manifest['data']['sha256'][:16]}...`, {manifest['data']['rows']:,} rows).", "",
        "## Test-split metrics against baselines", "", *render.results_table(manifest), "",
        "## Confusion matrix", "", *render.confusion_table(cm), "",
        *render.verdict_section(manifest.get("gate")),
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
    predictions["predicted"] = predicted_labels(probabilities)
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


def job_summary(bundle: Path, published: str, image_tags: list[str], push_status: str) -> str:
    """Markdown for the retrain workflow's job summary: data, metrics against baselines, the verdict,
    whether the model was published, and the image. Says what is missing rather than failing."""
    run_id = Path(bundle).name
    lines = [f"## tweetops retrain: run {run_id}", ""]
    try:
        manifest = verify_bundle(bundle)
    except TweetopsError as exc:
        manifest = None
        lines += [f"No model bundle to report ({exc}): a stage failed before training finished; the failed "
                  "step's log names the stage and the reason.", ""]
    if manifest is not None:
        data, split = manifest["data"], manifest["params"]["split"]
        margins = {key: [f"{manifest['metrics']['macro_f1'] - b['macro_f1']:+.4f}"]
                   for key, b in manifest["baselines"].items()}
        lines += [f"- data: `{data['source']}` ({data['rows']:,} rows, sha256 `{data['sha256'][:12]}`)",
                  f"- labeled fraction: {split['labeled_fraction']}; pseudo-labels used: "
                  f"{'yes' if manifest['ablation']['used'] else 'no'}",
                  f"- commit: `{manifest['git_commit']}`", "",
                  *render.results_table(manifest, margins, ["margin over it"]), "",
                  *render.verdict_section(manifest["gate"], "### Gate"),
                  f"- registry: {manifest['gate'].get('registry', 'unknown')}", ""]
    lines += [f"**Published: {published}**", "", "Image tags: " + ", ".join(f"`{t}`" for t in image_tags),
              f"Container registry: {push_status}", ""]
    return "\n".join(lines)
