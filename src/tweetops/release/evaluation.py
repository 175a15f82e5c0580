"""Metrics on the held-out test split, the same for the model and every baseline."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from tweetops.model import LABELS


def evaluate(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(LABELS), zero_division=0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "per_class": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for label, p, r, f, s in zip(LABELS, precision, recall, f1, support)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist(),
    }


def vader_labels(compound: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """VADER's own rule: compound >= 0.05 positive, <= -0.05 negative, else neutral."""
    return np.where(compound >= threshold, LABELS[2], np.where(compound <= -threshold, LABELS[0], LABELS[1]))
