"""Stage 4: word and character TF-IDF n-grams plus VADER lexicon features, as one transformer.

Fitted on the normalised training text (labelled and unlabelled rows alike: it learns no
labels). Saves the fitted transformer and the train/test matrices under data/features/.
"""
from __future__ import annotations

import logging

import joblib
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from tweetops.config import Config, FeatureParams
from tweetops.errors import TweetopsError
from tweetops.io import atomic_path
from tweetops.lexicon import VaderFeatures
from tweetops.logs import timed

log = logging.getLogger("tweetops.feature_engineering")


def build_features(p: FeatureParams) -> FeatureUnion:
    parts = [
        ("word", TfidfVectorizer(ngram_range=(1, p.word_ngram_max), sublinear_tf=True,
                                 max_features=p.max_features, token_pattern=r"(?u)[@#]?\b\w[\w']*\b")),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(p.char_ngram_min, p.char_ngram_max),
                                 min_df=p.char_min_df, sublinear_tf=True, max_features=p.max_features)),
    ]
    if p.lexicon:
        parts.append(("lexicon", Pipeline([("vader", VaderFeatures()), ("scale", StandardScaler())])))
    return FeatureUnion(parts)


def paths_of(config: Config) -> dict:
    folder = config.paths.features
    return {"transformer": folder / "features.joblib", "train": folder / "X_train.npz", "test": folder / "X_test.npz"}


def _save_npz(path, matrix) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            sparse.save_npz(handle, sparse.csr_matrix(matrix))


def run(config: Config) -> dict:
    processed = config.paths.processed
    tables = {}
    for part in ("train", "test"):
        source = processed / f"{part}_clean.parquet"
        if not source.exists():
            raise TweetopsError(f"{source} not found; run the preprocessing stage first.")
        tables[part] = pd.read_parquet(source, columns=["text_clean"])
    features = build_features(config.params.features)
    with timed(log, f"fitted features on {len(tables['train']):,} training texts"):
        X_train = features.fit_transform(tables["train"]["text_clean"].tolist())
    with timed(log, f"transformed {len(tables['test']):,} test texts"):
        X_test = features.transform(tables["test"]["text_clean"].tolist())
    out = paths_of(config)
    with atomic_path(out["transformer"]) as tmp:
        joblib.dump(features, tmp)
    _save_npz(out["train"], X_train)
    _save_npz(out["test"], X_test)
    sizes = {name: len(t.vocabulary_) for name, t in features.transformer_list if hasattr(t, "vocabulary_")}
    log.info("features: %s columns (%s), train %s x test %s", X_train.shape[1], sizes, X_train.shape[0], X_test.shape[0])
    return {"n_features": int(X_train.shape[1]), "blocks": sizes, "train_rows": int(X_train.shape[0]),
            "test_rows": int(X_test.shape[0]), **{k: str(v) for k, v in out.items()}}


def main(argv=None) -> int:
    from tweetops.cli import stage_main

    return stage_main("feature_engineering", argv)


if __name__ == "__main__":
    raise SystemExit(main())
