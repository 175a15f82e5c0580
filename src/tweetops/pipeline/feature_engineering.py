"""Stage 4: word and character TF-IDF n-grams plus VADER lexicon features, as one transformer
(tweetops.model.builder.build_features, the same the served model holds).

Fitted on the normalised training text (labelled and unlabelled rows alike: it learns no
labels). Saves the fitted transformer and the train/test matrices under data/features/.
"""
from __future__ import annotations

import logging
import os
import pickle

import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse

from tweetops.errors import TweetopsError
from tweetops.io.files import atomic_path
from tweetops.logs import Progress, timed
from tweetops.model.builder import build_features
from tweetops.pipeline.options import stage_main
from tweetops.pipeline.runs import Run
from tweetops.pipeline.sampling import fit_sample
from tweetops.settings import environment

log = logging.getLogger("tweetops.feature_engineering")


def n_jobs() -> int:
    """Worker processes for chunked transforms: TWEETOPS_JOBS, else one per core."""
    return environment().jobs or os.cpu_count() or 1


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
    parts = []
    with Progress(log, "features", total=len(texts), unit="texts") as progress:
        for i, part in zip(starts, jobs):
            parts.append(part)
            progress.update(min(chunk, len(texts) - i))
    return sparse.vstack(parts, format="csr")


def save_matrix(path, matrix) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            sparse.save_npz(handle, sparse.csr_matrix(matrix), compressed=False)  # speed over disk at scale


def stage(run: Run) -> dict:
    catalog, p = run.catalog, run.params.features
    tables = {}
    for part in ("train", "test"):
        source = catalog.clean(part)
        if not source.exists():
            raise TweetopsError(f"{source} not found; run the preprocessing stage first.")
        tables[part] = pd.read_parquet(source, columns=["text_clean"])
    features = build_features(p)
    train_texts = tables["train"]["text_clean"].tolist()
    sample = fit_sample(len(train_texts), p.fit_sample_rows, run.params.split.seed)
    with timed(log, f"fitted features on {len(sample):,} of {len(train_texts):,} training texts"):
        if len(sample) == len(train_texts):
            X_train = features.fit_transform(train_texts)
        else:
            features.fit([train_texts[i] for i in sample])
            X_train = transform_in_chunks(features, train_texts)
    with timed(log, f"transformed {len(tables['test']):,} test texts"):
        X_test = transform_in_chunks(features, tables["test"]["text_clean"].tolist())
    with atomic_path(catalog.transformer) as tmp:  # the C pickler: joblib.dump's Python one took 4x as long
        tmp.write_bytes(pickle.dumps(features, protocol=5))
    save_matrix(catalog.matrix("train"), X_train)
    save_matrix(catalog.matrix("test"), X_test)
    sizes = {name: len(t.vocabulary_) for name, t in features.transformer_list if hasattr(t, "vocabulary_")}
    log.info("features: %s columns (%s), train %s x test %s", X_train.shape[1], sizes, X_train.shape[0],
             X_test.shape[0])
    return {"n_features": int(X_train.shape[1]), "blocks": sizes, "train_rows": int(X_train.shape[0]),
            "test_rows": int(X_test.shape[0]), "transformer": str(catalog.published(catalog.transformer)),
            "train": str(catalog.published(catalog.matrix("train"))),
            "test": str(catalog.published(catalog.matrix("test")))}


def main(argv=None) -> int:
    return stage_main("feature_engineering", stage, argv)


if __name__ == "__main__":
    raise SystemExit(main())
