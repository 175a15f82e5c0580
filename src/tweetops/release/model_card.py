"""The model card: reports/<run_id>/model_card.md, also copied into the bundle (so its sha256 is in the
manifest, the image carries it and GET /model shows it).

Everything in it is measured on this run: metrics with bootstrap confidence intervals on the test
split, the behavioural checks' outcomes (tweetops.behaviour, the same checks the tests run), the
most confident errors, and the pseudo-label ablation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tweetops.io.files import write_text
from tweetops.io.storage import local_path, scheme_of
from tweetops.model import LABELS, predicted_labels
from tweetops.release import render
from tweetops.release.behaviour import Proba, run_checks

PROVENANCE_FILE = "PROVENANCE.md"
RESAMPLES = 1000
SEED = 0
CHUNK_CELLS = 5_000_000


def bootstrap_ci(y_true, y_pred, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95) -> dict:
    """Percentile intervals of macro-F1 and accuracy over `resamples` bootstrap draws of the test rows.

    Vectorised: each slice of resamples' per-class counts comes from one (slice, n) index array, so
    1,000 resamples of a few thousand rows take milliseconds instead of 1,000 sklearn calls.
    """
    codes = {label: i for i, label in enumerate(LABELS)}
    t_all = np.array([codes[v] for v in y_true], dtype=np.int8)
    p_all = np.array([codes.get(v, -1) for v in y_pred], dtype=np.int8)
    rng = np.random.default_rng(seed)
    # Resamples in slices of about CHUNK_CELLS indices: a 200k-row test split would otherwise need
    # several GB at once (1,000 x 200k indices and their labels).
    step = max(1, CHUNK_CELLS // max(len(t_all), 1))
    f1_draws, accuracy_draws = [], []
    for start in range(0, resamples, step):
        rows = rng.integers(0, len(t_all), size=(min(step, resamples - start), len(t_all)))
        t, p = t_all[rows], p_all[rows]
        f1 = []
        for k in range(len(LABELS)):
            tp = ((t == k) & (p == k)).sum(axis=1)
            wrong = ((t == k) != (p == k)).sum(axis=1)  # false negatives + false positives
            f1.append(np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(len(rows)), where=(2 * tp + wrong) > 0))
        f1_draws.append(np.mean(f1, axis=0))
        accuracy_draws.append((t == p).mean(axis=1))
    draws = {"macro_f1": np.concatenate(f1_draws), "accuracy": np.concatenate(accuracy_draws)}
    tail = (1 - level) / 2 * 100
    return {name: [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))] for name, v in draws.items()}


def worst_errors(test: pd.DataFrame, probabilities: np.ndarray, k: int = 5) -> pd.DataFrame:
    """The k test tweets the model got wrong with the most confidence."""
    predicted = predicted_labels(probabilities)
    frame = pd.DataFrame({"text": test["text"].to_numpy(), "label": test["label"].to_numpy(object),
                          "predicted": predicted, "confidence": probabilities.max(axis=1)})
    return frame[frame["label"] != frame["predicted"]].nlargest(k, "confidence")


def provenance(source: str, root: Path) -> dict:
    """The fields of the PROVENANCE.md table beside a local source file ({} when there is none)."""
    if scheme_of(source) not in ("local", "file"):
        return {}
    path = local_path(source, root).parent / PROVENANCE_FILE
    if not path.is_file():
        return {}
    fields = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[0] not in ("field", "---"):
            fields[cells[0]] = cells[1]
    return fields


def _cell(text: str, limit: int = 140) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _data_section(manifest: dict, source_info: dict) -> list[str]:
    data, prep = manifest["data"], manifest["data"]["preparation"]
    lines = [f"- source: `{data['source']}` ({data['rows']:,} rows, sha256 `{data['sha256']}`)"]
    if source_info:
        shown = {"dataset": "dataset", "source": "obtained from", "licence": "licence", "citation": "citation"}
        lines += [f"- {name}: {source_info[field]}" for field, name in shown.items() if field in source_info]
    else:
        lines.append(f"- provenance and licence: not recorded (no {PROVENANCE_FILE} beside the source); "
                     "check the data's licence before using this model")
    lines += [f"- rows kept {prep['rows_kept']:,}, quarantined {prep['rows_quarantined']:,} "
              f"({prep['quarantine_reasons'] or 'no reasons'}); train {prep['train']:,} "
              f"({prep['train_labeled']:,} with gold labels), test {prep['test']:,}"]
    return lines


def _metrics_section(manifest: dict, ci: dict) -> list[str]:
    m = manifest["metrics"]
    interval = [f"{render.score(ci[key][0])} – {render.score(ci[key][1])}" for key in ("macro_f1", "accuracy")]
    lines = [f"Test split ({sum(v['support'] for v in m['per_class'].values()):,} tweets); 95% intervals from "
             f"{RESAMPLES:,} bootstrap resamples (seed {SEED}).", "",
             *render.results_table(manifest, {"model": interval}, ["macro-F1 95% CI", "accuracy 95% CI"]), ""]
    lines += render.table(["class", "precision", "recall", "F1", "support"],
                          [[label, render.score(v["precision"]), render.score(v["recall"]), render.score(v["f1"]),
                            f"{v['support']:,}"] for label, v in m["per_class"].items()])
    return lines


def _model_section(manifest: dict) -> list[str]:
    """What the model is: the linear family, or the encoder family with its pretrained weights' provenance."""
    model = manifest.get("model") or {"family": "linear"}
    linear = ("word and char TF-IDF with negation scope and VADER features, multinomial logistic regression "
              f"(C={manifest['params']['training']['C']})")
    if model["family"] != "encoder":
        return [f"Linear family: {linear}."]
    e, base = model["encoder"], model["encoder"]["base"]
    check = e["export_check"]
    return [f"Encoder family: {e['encoder_weight']:g} x a fine-tuned sentence encoder's probabilities + "
            f"{1 - e['encoder_weight']:g} x the linear model's ({linear}).", "",
            f"- encoder: {base['name']} (from the package {base['package']} {base['package_version']}, weights "
            f"sha256 `{base['weights_sha256'][:16]}…`; its licence is in the bundle: "
            f"{', '.join('ENCODER_' + n for n in base['licence_files']) or 'none shipped'}), mean pooling and a "
            f"linear head, fine-tuned end to end: {e['epochs']} epochs, learning rate {e['learning_rate']:g}, "
            f"batch {e['batch_size']}, {e['max_tokens']} tokens, seed {e['seed']}, label_sigma {e['label_sigma']:g}, "
            f"{e['fine_tune_seconds']:,.0f} s;",
            f"- served by onnxruntime ({'int8' if e['quantized'] else 'fp32'}, {e['onnx_bytes'] / 1e6:.1f} MB, "
            f"sha256 `{e['onnx_sha256'][:16]}…`), no torch: on {check['texts']:,} test tweets it gives the trained "
            f"network's label for {check['label_agreement']:.1%} (probabilities within "
            f"{check['max_probability_difference']:.3f})."]


def render_card(manifest: dict, ci: dict, checks: list, errors: pd.DataFrame, source_info: dict) -> str:
    lab, abl = manifest["params"]["labels"], manifest["ablation"]
    failed = [c for c in checks if not c.passed]
    lines = [
        f"# Model card: {manifest.get('model_name', 'tweet-sentiment')} (run {manifest['run_id']})", "",
        "## Intended use", "",
        "Three-way sentiment (negative, neutral, positive) of short English social-media posts, for "
        "aggregate monitoring and triage where a person reviews the outcome.", "",
        "## Out of scope", "",
        "- decisions about an individual person (moderation, hiring, credit) without human review;",
        "- languages other than English, long documents, sarcasm-heavy or domain-specific text (medical, "
        "financial) unlike 2010s public tweets;",
        "- reading the probabilities as calibrated risk scores without checking calibration on your data.", "",
        "## Model", "", *_model_section(manifest), "",
        "## Training data", "", *_data_section(manifest, source_info), "",
        "## Label definition", "",
        f"Each tweet's mean crowd rating in [{lab['rating_min']:g}, {lab['rating_max']:g}]: below "
        f"{lab['negative_below']:g} is negative, above {lab['positive_above']:g} is positive, otherwise neutral.", "",
        "## Metrics against baselines", "", *_metrics_section(manifest, ci), "",
        "## Known failure modes", "",
        f"Behavioural checks (tweetops.behaviour, also run by tests/model/test_behaviour.py): "
        f"{len(checks) - len(failed)} of {len(checks)} pass.", "",
        "| check | kind | result | detail |", "|---|---|---|---|",
        *[f"| {_cell(c.name, 200)} | {c.kind} | {'pass' if c.passed else '**FAIL**'} | {_cell(c.detail)} |"
          for c in checks], "",
        "The most confident errors on the test split:", "",
        "| text | true | predicted | confidence |", "|---|---|---|---:|",
        *[f"| {_cell(r.text)} | {r.label} | {r.predicted} | {r.confidence:.3f} |" for r in errors.itertuples()], "",
        "## Pseudo-label ablation", "",
        f"Pseudo-labels used: **{'yes' if abl['used'] else 'no'}** ({abl['pseudo_rows']:,} confident rows). "
        f"{abl['reason'][0].upper() + abl['reason'][1:]}.", "",
        *render.verdict_section(manifest.get("gate")),
        "## Versions", "",
        f"- run id `{manifest['run_id']}`; git commit `{manifest['git_commit']}`",
        f"- data sha256 `{manifest['data']['sha256']}`",
        f"- params: C={manifest['params']['training']['C']}, "
        f"labeled_fraction={manifest['params']['split']['labeled_fraction']}, "
        f"seed={manifest['params']['split']['seed']}",
    ]
    return "\n".join(lines) + "\n"


def write_card(path: Path, manifest: dict, proba: Proba, test: pd.DataFrame, probabilities: np.ndarray,
               root: Path) -> Path:
    """Measure (bootstrap, behavioural checks, worst errors) and write the card; returns its path."""
    predicted = predicted_labels(probabilities)
    ci = bootstrap_ci(test["label"].to_numpy(object), predicted)
    card = render_card(manifest, ci, run_checks(proba), worst_errors(test, probabilities),
                       provenance(manifest["data"]["source"], root))
    return write_text(path, card)
