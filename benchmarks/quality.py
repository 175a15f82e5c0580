"""Model quality: mean macro-F1 over 5 stratified 80/20 splits of the bundled tweets, full labels.

The project's model (as params.yaml configures it, trained with model_training's row weights)
side by side with its peers on the same splits: VADER's compound rule, word+char TF-IDF with
logistic regression (no lexicon), and the majority class. Everything is fitted on each split's
training part only.

    .venv/bin/python benchmarks/quality.py
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline

from tweetops.settings import limit_threads
from tweetops.settings import load_config
from tweetops.pipeline.data_preparation import label_from_rating
from tweetops.release.evaluation import evaluate, vader_labels
from tweetops.model.builder import build_features
from tweetops.model.lexicon import compound
from tweetops.model_training import assemble, boundary_weights, make_classifier
from tweetops.io.tables import open_table

ROOT = Path(__file__).resolve().parents[1]


def models(config) -> dict:
    p = config.params
    no_lexicon = dataclasses.replace(p.features, lexicon=False)
    return {
        "tweetops model": lambda: assemble(config, build_features(p.features), make_classifier(p.training)),
        "TF-IDF + logistic regression (no lexicon)": lambda: assemble(config, build_features(no_lexicon),
                                                                      make_classifier(p.training)),
        "majority class": lambda: DummyClassifier(strategy="most_frequent"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quality"))
    args = parser.parse_args()
    limit_threads()
    config = load_config(ROOT / "params.yaml")
    raw = (ROOT / config.params.data.source).read_bytes()
    table = open_table(raw, "tsv", "the bundled tweets", config.params.data.tsv_columns).frame()
    texts = table["text"].tolist()
    rating = pd.to_numeric(table["rating"])
    y = label_from_rating(rating, config.params.labels).to_numpy(object)
    weights = boundary_weights(rating, config.params.training, config.params.labels)
    vader = vader_labels(compound(texts))
    scores: dict[str, list[float]] = {}
    splitter = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.2, random_state=42)
    for train, test in splitter.split(texts, y):
        for name, make in models(config).items():
            model = make()
            fit_params = {"classifier__sample_weight": weights[train]} if isinstance(model, Pipeline) else {}
            model.fit([texts[i] for i in train], y[train], **fit_params)
            scores.setdefault(name, []).append(evaluate(y[test], model.predict([texts[i] for i in test]))["macro_f1"])
        scores.setdefault("VADER compound (±0.05)", []).append(evaluate(y[test], vader[test])["macro_f1"])
        print({k: round(v[-1], 4) for k, v in scores.items()}, flush=True)
    result = {name: {"mean": float(np.mean(v)), "std": float(np.std(v)), "splits": v} for name, v in scores.items()}
    lines = ["| model | mean macro-F1 | std | per split |", "|---|---:|---:|---|"]
    for name, r in sorted(result.items(), key=lambda kv: -kv[1]["mean"]):
        lines.append(f"| {name} | {r['mean']:.4f} | {r['std']:.4f} | {', '.join(f'{s:.3f}' for s in r['splits'])} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
