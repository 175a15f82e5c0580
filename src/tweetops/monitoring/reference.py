"""The training reference: a fixed-seed sample of the test split's texts with the model's probabilities.

Written by the training stage and shipped inside the bundle (its sha256 is in the manifest), so the
monitor compares production traffic with exactly what this model was evaluated on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tweetops.config import LABELS, Config
from tweetops.errors import TweetopsError
from tweetops.feature_engineering import fit_sample
from tweetops.io import write_parquet

REFERENCE_FILE = "reference.parquet"


def write_reference(config: Config, test: pd.DataFrame, proba: np.ndarray) -> dict[str, Path]:
    """Write the reference beside the stage features; returns it as save_bundle's `extra_files`.

    At most half of the test split is taken, so the other half stays unseen by the monitor and can
    check that undrifted tweets are not flagged.
    """
    p = config.params.monitoring
    rows = fit_sample(len(test), min(p.reference_rows, len(test) // 2), p.seed)
    frame = pd.DataFrame({"id": test["id"].iloc[rows].astype(str).to_numpy(),
                          "text": test["text"].iloc[rows].astype(str).to_numpy()})
    for i, label in enumerate(LABELS):
        frame[f"p_{label}"] = proba[rows, i]
    path = config.paths.features / REFERENCE_FILE
    write_parquet(path, frame)
    return {REFERENCE_FILE: path}


def read_reference(bundle_path: Path) -> pd.DataFrame:
    path = Path(bundle_path) / REFERENCE_FILE
    if not path.is_file():
        raise TweetopsError(f"the model at {bundle_path} has no {REFERENCE_FILE} (it predates drift monitoring); "
                            "retrain it with `tweetops run` to monitor it.")
    return pd.read_parquet(path)
