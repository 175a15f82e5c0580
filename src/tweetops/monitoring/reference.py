"""The training reference: a fixed-seed sample of the test split's texts with the model's probabilities.

Written by the model_training stage and shipped inside the bundle (its sha256 is in the manifest), so the
monitor compares production traffic with exactly what this model was evaluated on.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tweetops.errors import TweetopsError
from tweetops.model.bundle import REFERENCE_FILE


def read_reference(bundle_path: Path) -> pd.DataFrame:
    path = Path(bundle_path) / REFERENCE_FILE
    if not path.is_file():
        raise TweetopsError(f"the model at {bundle_path} has no {REFERENCE_FILE}; retrain it with `tweetops run` "
                            "to monitor it.")
    return pd.read_parquet(path)
