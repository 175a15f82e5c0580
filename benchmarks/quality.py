"""Model quality: both model families side by side with VADER, per class and out of domain.

In domain: 5 stratified 80/20 splits of the bundled tweets, full labels; every model is fitted on each
split's training part only (the linear family with model_training's row weights, the encoder family with
the same code the pipeline runs: fine-tuned, exported to ONNX, quantised, blended). Out of domain: each
split's models score the three non-tweet sets of data/drift (never used for training or for choosing
anything); the tables give the mean over the 5 split models. Peers: VADER's compound rule, word+char
TF-IDF with logistic regression (no lexicon), the majority class.

    .venv/bin/python benchmarks/quality.py                       # both families (the encoder: ~35 min on 2 cores)
    .venv/bin/python benchmarks/quality.py --families linear     # seconds
    .venv/bin/python benchmarks/quality.py --encoder label_sigma=0.3 --out /tmp/q   # try an encoder setting
    .venv/bin/python benchmarks/quality.py --also-seeds 43 --out /tmp/q   # + the encoder family fine-tuned
                                                  # with seed 43, and both averaged (a 2-model ensemble)

Each split's probabilities are cached under --cache by model, setting and code, so a rerun only trains what changed.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import StratifiedShuffleSplit

from tweetops.io.tables import open_table
from tweetops.model import LABELS, predicted_labels
from tweetops.model.builder import assemble, build_features, make_classifier
from tweetops.model.lexicon import compound
from tweetops.pipeline.data_preparation import label_from_rating
from tweetops.pipeline.model_training import boundary_weights
from tweetops.release.evaluation import evaluate, vader_labels
from tweetops.settings import limit_threads, load_config

ROOT = Path(__file__).resolve().parents[1]
OUT_OF_DOMAIN = {"Amazon": "amazonReviewSnippets", "movie": "movieReviewSnippets", "NYT": "nytEditorialSnippets"}
VADER = "VADER compound (±0.05)"
FAMILIES = {"linear": "linear family (today's default)", "encoder": "encoder family (MiniLM fine-tuned + linear)"}


@dataclasses.dataclass(frozen=True)
class Labelled:
    texts: list[str]
    y: np.ndarray
    rating: np.ndarray


def read(path: Path, params) -> Labelled:
    table = open_table(path.read_bytes(), "tsv", str(path), ["id", "rating", "text"]).frame()
    rating = pd.to_numeric(table["rating"])
    return Labelled(table["text"].tolist(), label_from_rating(rating, params.labels).to_numpy(object),
                    rating.to_numpy(float))


# The code each cached result depends on (a change to a comment does not count): the linear models' features,
# and the encoder's fine-tuning, export and inference. The encoder's cache holds the encoder alone; its blend with
# the linear family is made here, so a change to the linear side never re-runs a fine-tune.
CODE = {"linear": ("builder.py", "lexicon.py", "normalizer.py"),
        "encoder": ("encoder.py", "encoder_training.py", "normalizer.py")}


@functools.cache  # read once a run: every split and model asks
def code_fingerprint(name: str) -> str:
    model = Path(__file__).resolve().parents[1] / "src" / "tweetops" / "model"
    trees = [ast.dump(ast.parse((model / file).read_text(encoding="utf-8"))) for file in CODE[name]]
    return hashlib.sha256("\n".join(trees).encode()).hexdigest()[:12]


def setting_key(name: str, params) -> str:
    """What a cached split result depends on: the model's name, the params that shape it and its code."""
    relevant = {"preprocessing": params.preprocessing, "features": params.features, "training": params.training,
                "labels": params.labels}
    if name == "encoder":
        del relevant["features"]  # the encoder alone reads no linear feature, nor the blend's weight
        relevant["encoder"] = params.model.encoder.model_copy(update={"encoder_weight": None})
    text = json.dumps({k: v.model_dump() for k, v in relevant.items()}, sort_keys=True)
    fingerprint = code_fingerprint("encoder" if name == "encoder" else "linear")
    return f"{name}-{hashlib.sha256((text + fingerprint).encode()).hexdigest()[:12]}"


def fit_split(params, data: Labelled, train: np.ndarray, weights: np.ndarray, families: list[str],
              evaluate_on: dict[str, list[str]], cache: Path, k: int) -> dict[str, dict[str, np.ndarray]]:
    """name -> {set name -> probabilities} for this split's models (cached by model, setting and code); the
    encoder family's are its encoder's blended with this split's linear family, as the served model blends."""
    texts = [data.texts[i] for i in train]
    no_lexicon = params.features.model_copy(update={"lexicon": False})
    linear = None

    def fit_linear(features):
        return assemble(params, build_features(features), make_classifier(params.training)).fit(
            texts, data.y[train], classifier__sample_weight=weights[train])

    makers = {
        "linear": lambda: fit_linear(params.features),
        "TF-IDF + logistic regression (no lexicon)": lambda: fit_linear(no_lexicon),
        "majority class": lambda: DummyClassifier(strategy="most_frequent").fit(texts, data.y[train]),
    }
    out = {}
    for name in dict.fromkeys(["linear", *families, "TF-IDF + logistic regression (no lexicon)", "majority class"]):
        path = cache / f"{setting_key(name, params)}-split{k}.npz"
        if path.exists():
            out[name] = dict(np.load(path))
            continue
        if name == "encoder":
            from tweetops.model.encoder_training import train_blend
            linear = linear or makers["linear"]()
            with tempfile.TemporaryDirectory() as work:
                model, _, _ = train_blend(params, texts, data.y[train], data.rating[train], weights[train], linear,
                                          Path(work), evaluate_on["test"][:200])
            out[name] = {where: model.encoder.predict_proba(model.normalize.transform(batch))
                         for where, batch in evaluate_on.items()}
        else:
            model = makers[name]()
            if name == "linear":
                linear = model
            out[name] = {where: model.predict_proba(batch) for where, batch in evaluate_on.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out[name])
    if "encoder" in out:
        w = params.model.encoder.encoder_weight
        out["encoder"] = {where: w * p + (1 - w) * out["linear"][where] for where, p in out["encoder"].items()}
    return {name: out[name] for name in out if name in families or name not in FAMILIES}


def with_encoder(params, changes: dict):
    """params with some of model.encoder's settings changed, validated as params.yaml's are."""
    encoder = params.model.encoder.model_validate({**params.model.encoder.model_dump(), **changes})
    return params.model_copy(update={"model": params.model.model_copy(update={"encoder": encoder})})


def seed_variants(params, seeds: list[int], data: Labelled, train: np.ndarray, weights: np.ndarray,
                  evaluate_on: dict[str, list[str]], cache: Path, k: int, first: dict | None) -> dict[str, dict]:
    """The encoder family fine-tuned with each extra seed, and the average of all of them with params' own
    seed: what an ensemble of that many fine-tunes would score (it would cost as many encoder passes)."""
    if not seeds:
        return {}
    out, members = {}, [first]
    for seed in seeds:
        variant = with_encoder(params, {"seed": seed})
        members.append(fit_split(variant, data, train, weights, ["encoder"], evaluate_on, cache, k)["encoder"])
        out[f"encoder family, seed {seed}"] = members[-1]
    seeds_named = "+".join(str(s) for s in [params.model.encoder.seed, *seeds])
    out[f"encoder family, seeds {seeds_named} averaged"] = {
        where: np.mean([m[where] for m in members], axis=0) for where in first}
    return out


def report(result: dict) -> str:
    names = sorted(result["in_domain"], key=lambda n: -np.mean(result["in_domain"][n]["macro_f1"]))
    lines = ["## In domain: 5 splits of the bundled tweets", "",
             "| model | mean macro-F1 | std | per split |", "|---|---:|---:|---|"]
    for name in names:
        f1 = result["in_domain"][name]["macro_f1"]
        lines.append(f"| {name} | {np.mean(f1):.4f} | {np.std(f1):.4f} | {', '.join(f'{s:.3f}' for s in f1)} |")
    lines += ["", "## Per class: mean F1 over the splits, and the smallest margin over VADER on any split", "",
              "| model | " + " | ".join(LABELS) + " | " + " | ".join(f"{c} min margin" for c in LABELS) + " |",
              "|---|" + "---:|" * (2 * len(LABELS))]
    vader = result["in_domain"][VADER]["per_class"]
    for name in names:
        per = result["in_domain"][name]["per_class"]
        means = [f"{np.mean(per[c]):.3f}" for c in LABELS]
        margins = [f"{min(np.subtract(per[c], vader[c])):+.3f}" for c in LABELS]
        lines.append(f"| {name} | " + " | ".join(means + (margins if name != VADER else ["", "", ""])) + " |")
    sets = list(OUT_OF_DOMAIN)
    lines += ["", "## Out of domain: macro-F1 on data/drift (mean of the 5 split models), and the margin over VADER",
              "", "| model | " + " | ".join(sets) + " | " + " | ".join(f"{s} vs VADER" for s in sets) + " |",
              "|---|" + "---:|" * (2 * len(sets))]
    ood_vader = result["out_of_domain"][VADER]
    for name in names:
        ood = result["out_of_domain"][name]
        cells = [f"{np.mean(ood[s]):.3f}" for s in sets]
        margins = [f"{np.mean(ood[s]) - np.mean(ood_vader[s]):+.3f}" for s in sets] if name != VADER else [""] * 3
        lines.append(f"| {name} | " + " | ".join(cells + margins) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--families", default="linear,encoder", help="comma-separated: linear, encoder")
    parser.add_argument("--encoder", action="append", default=[], metavar="KEY=VALUE",
                        help="an encoder setting instead of params.yaml's (model.encoder.KEY)")
    parser.add_argument("--also-seeds", default="", metavar="SEED,...",
                        help="also fine-tune the encoder family with these seeds; report each and all averaged")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / ".cache" / "quality"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quality"))
    args = parser.parse_args()
    limit_threads()
    config = load_config(ROOT / "params.yaml")
    params = config.params
    if args.encoder:
        changes = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.encoder)}
        params = with_encoder(params, changes)
    families = [f.strip() for f in args.families.split(",")]
    seeds = [int(seed) for seed in args.also_seeds.split(",") if seed.strip()]
    if seeds and "encoder" not in families:
        raise SystemExit("--also-seeds needs the encoder family in --families")
    data = read(ROOT / params.data.source, params)
    weights = boundary_weights(data.rating, params.training, params.labels)
    vader = vader_labels(compound(data.texts))
    ood = {name: read(ROOT / "data" / "drift" / f"{stem}_GroundTruth.txt", params)
           for name, stem in OUT_OF_DOMAIN.items()}
    ood_vader = {name: vader_labels(compound(d.texts)) for name, d in ood.items()}
    named = {f: FAMILIES[f] for f in families}
    in_domain: dict = {}
    out_of_domain: dict = {}

    def record(name, y_test, predicted_test, predicted_ood):
        s = evaluate(y_test, predicted_test)
        entry = in_domain.setdefault(name, {"macro_f1": [], "per_class": {c: [] for c in LABELS}})
        entry["macro_f1"].append(s["macro_f1"])
        for c in LABELS:
            entry["per_class"][c].append(s["per_class"][c]["f1"])
        for where, predicted in predicted_ood.items():
            scored = evaluate(ood[where].y, predicted)["macro_f1"]
            out_of_domain.setdefault(name, {}).setdefault(where, []).append(scored)

    splitter = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.2, random_state=42)
    for k, (train, test) in enumerate(splitter.split(data.texts, data.y)):
        evaluate_on = {"test": [data.texts[i] for i in test], **{name: d.texts for name, d in ood.items()}}
        fitted = fit_split(params, data, train, weights, families, evaluate_on, Path(args.cache), k)
        for name, proba in seed_variants(params, seeds, data, train, weights, evaluate_on, Path(args.cache), k,
                                         fitted.get("encoder")).items():
            fitted[name] = proba
        for name, proba in fitted.items():
            labels = {where: predicted_labels(p) for where, p in proba.items()}
            record(named.get(name, name), data.y[test], labels.pop("test"), labels)
        record(VADER, data.y[test], vader[test], ood_vader)
        print(f"split {k}: " + ", ".join(f"{n} {v['macro_f1'][-1]:.4f}" for n, v in in_domain.items()), flush=True)
    result = {"encoder_settings": params.model.encoder.model_dump() if "encoder" in families else None,
              "in_domain": in_domain, "out_of_domain": out_of_domain}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = report(result)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
