"""Stage 4: word and character TF-IDF n-grams plus VADER lexicon features, as one transformer.

Fitted on the normalised training text (labelled and unlabelled rows alike: it learns no
labels). Saves the fitted transformer and the train/test matrices under data/features/.
"""
from __future__ import annotations

import logging
import os

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from tweetops.config import Config, FeatureParams
from tweetops.errors import TweetopsError
from tweetops.io import atomic_path
from tweetops.lexicon import VaderFeatures
from tweetops.logs import timed
from tweetops.preprocessing import mark_negation

log = logging.getLogger("tweetops.feature_engineering")


def build_features(p: FeatureParams) -> FeatureUnion:
    parts = [
        ("word", TfidfVectorizer(ngram_range=(1, p.word_ngram_max), sublinear_tf=True, max_features=p.max_features,
                                 preprocessor=mark_negation if p.negation else str.lower,
                                 token_pattern=r"(?u)[@#]?\b\w[\w']*\b")),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(p.char_ngram_min, p.char_ngram_max),
                                 min_df=p.char_min_df, sublinear_tf=True, max_features=p.max_features)),
    ]
    if p.lexicon:
        parts.append(("lexicon", Pipeline([("vader", VaderFeatures()), ("scale", StandardScaler())])))
    return FeatureUnion(parts)


def fit_sample(n_rows: int, limit: int, seed: int) -> np.ndarray:
    """Sorted row indices of a fixed-seed sample of at most `limit` rows (all rows when fewer)."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def n_jobs() -> int:
    """Worker processes for chunked transforms: TWEETOPS_JOBS, else one per core."""
    return int(os.environ.get("TWEETOPS_JOBS") or os.cpu_count() or 1)


def transform_in_chunks(transformer, texts: list[str], chunk: int = 50000):
    """Transform chunk by chunk, in parallel processes when there is more than one chunk.

    The analyzers are pure Python, so processes (not threads) are what uses the cores; peak
    memory is the output plus one chunk's intermediates per worker.
    """
    starts = range(0, len(texts), chunk)
    if len(starts) <= 1:
        return sparse.csr_matrix(transformer.transform(texts))
    jobs = Parallel(n_jobs=min(n_jobs(), len(starts)), return_as="generator")(
        delayed(transformer.transform)(texts[i:i + chunk]) for i in starts)
    return sparse.vstack(list(tqdm(jobs, total=len(starts), desc="features", unit="chunk")), format="csr")


def paths_of(config: Config) -> dict:
    folder = config.paths.features
    return {"transformer": folder / "features.joblib", "train": folder / "X_train.npz", "test": folder / "X_test.npz"}


def _save_npz(path, matrix) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            sparse.save_npz(handle, sparse.csr_matrix(matrix), compressed=False)  # speed over disk at scale


def run(config: Config) -> dict:
    processed = config.paths.processed
    tables = {}
    for part in ("train", "test"):
        source = processed / f"{part}_clean.parquet"
        if not source.exists():
            raise TweetopsError(f"{source} not found; run the preprocessing stage first.")
        tables[part] = pd.read_parquet(source, columns=["text_clean"])
    p = config.params.features
    features = build_features(p)
    train_texts = tables["train"]["text_clean"].tolist()
    sample = fit_sample(len(train_texts), p.fit_sample_rows, config.params.split.seed)
    with timed(log, f"fitted features on {len(sample):,} of {len(train_texts):,} training texts"):
        if len(sample) == len(train_texts):
            X_train = features.fit_transform(train_texts)
        else:
            features.fit([train_texts[i] for i in sample])
            X_train = transform_in_chunks(features, train_texts)
    with timed(log, f"transformed {len(tables['test']):,} test texts"):
        X_test = transform_in_chunks(features, tables["test"]["text_clean"].tolist())
    out = paths_of(config)
    with atomic_path(out["transformer"]) as tmp:
        joblib.dump(features, tmp)
    _save_npz(out["train"], X_train)
    _save_npz(out["test"], X_test)
    sizes = {name: len(t.vocabulary_) for name, t in features.transformer_list if hasattr(t, "vocabulary_")}
    log.info("features: %s columns (%s), train %s x test %s", X_train.shape[1], sizes, X_train.shape[0],
             X_test.shape[0])
    return {"n_features": int(X_train.shape[1]), "blocks": sizes, "train_rows": int(X_train.shape[0]),
            "test_rows": int(X_test.shape[0]), **{k: str(v) for k, v in out.items()}}


def main(argv=None) -> int:
    from tweetops.cli import stage_main

    return stage_main("feature_engineering", argv)


if __name__ == "__main__":
    raise SystemExit(main())
