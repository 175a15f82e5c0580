"""What the model bundle pickles, and the bundle itself: the normaliser, the lexicon features, the one
pipeline builder, the serving fast path, and the hash-checked bundle folder.

Nothing here knows about stages, registries or HTTP, so a bundle loads wherever this package does.
"""

import numpy as np

LABELS = ("negative", "neutral", "positive")  # the classes, in the order of every probability vector


def predicted_labels(probabilities) -> np.ndarray:
    """Each row's most probable class, as an object array of LABELS' names."""
    return np.asarray(LABELS, dtype=object)[np.asarray(probabilities).argmax(axis=1)]
