"""Fixed-seed row samples: what keeps fitting linear in the data (vocabularies, centroids, checks)."""
from __future__ import annotations

import numpy as np


def fit_sample(n_rows: int, limit: int, seed: int) -> np.ndarray:
    """Sorted row indices of a fixed-seed sample of at most `limit` rows (all rows when fewer)."""
    if n_rows <= limit:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))
