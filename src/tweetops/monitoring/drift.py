"""The drift statistics: each compares the current window with the training reference.

Every check returns its value, its threshold and whether it fired, so the verdict can be
explained line by line. All of them run on the model's own view of the text: the bundle's
fitted normaliser and feature transformer, and its probabilities.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse, stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from tweetops.model import LABELS
from tweetops.settings import MonitoringParams

EPSILON = 1e-4  # keeps PSI finite when a label is absent on one side


def domain_auc(X_ref, X_cur, seed: int) -> float:
    """Cross-validated ROC-AUC of a classifier telling current rows from reference rows.

    About 0.5 when the two are indistinguishable; near 1 when the current text is another kind of text.
    """
    X = sparse.vstack([X_ref, X_cur], format="csr")
    y = np.r_[np.zeros(X_ref.shape[0]), np.ones(X_cur.shape[0])]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(C=1.0, max_iter=1000), X, y, cv=folds, method="decision_function")
    return float(roc_auc_score(y, scores))


def label_shares(proba: np.ndarray) -> np.ndarray:
    counts = np.bincount(proba.argmax(axis=1), minlength=len(LABELS))
    return counts / max(counts.sum(), 1)


def psi(ref_proba: np.ndarray, cur_proba: np.ndarray) -> float:
    """Population stability index of the predicted-label distribution."""
    ref, cur = np.clip(label_shares(ref_proba), EPSILON, None), np.clip(label_shares(cur_proba), EPSILON, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def chi_square_p(ref_proba: np.ndarray, cur_proba: np.ndarray) -> float:
    """p-value of a chi-square test that both windows share one predicted-label distribution."""
    table = np.vstack([np.bincount(p.argmax(axis=1), minlength=len(LABELS)) for p in (ref_proba, cur_proba)])
    table = table[:, table.sum(axis=0) > 0]  # a label nobody predicted carries no information
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table)[1])


def oov_rate(texts: list[str], analyzer, vocabulary) -> float:
    """Share of word tokens (unigrams) that the fitted word vocabulary has never seen."""
    seen = total = 0
    for text in texts:
        tokens = [t for t in analyzer(text) if " " not in t]
        total += len(tokens)
        seen += sum(t in vocabulary for t in tokens)
    return 1.0 - seen / total if total else 0.0


def check(name: str, value: float, threshold: float, fired: bool, reference=None, current=None) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "drift": bool(fired),
            "reference": reference, "current": current}


def profile(model, texts: list[str], proba: np.ndarray | None = None) -> dict:
    """What the checks need of one side: features, probabilities, lengths, OOV rate."""
    X = model[:-1].transform(texts)
    vocabulary = word_vocabulary(model)
    return {"n": len(texts), "X": X, "proba": model[-1].predict_proba(X) if proba is None else proba,
            "lengths": np.array([len(t) for t in texts]),
            "oov": None if vocabulary is None else oov_rate(model[0].transform(texts), *vocabulary)}


def word_vocabulary(model):
    """(analyzer, vocabulary) of the bundle's fitted word vectoriser, or None when it has none."""
    features = model[:-1][-1]
    for name, part in getattr(features, "transformer_list", []):
        if name == "word" and hasattr(part, "vocabulary_"):
            return part.build_analyzer(), part.vocabulary_
    return None


def compare(ref: dict, cur: dict, p: MonitoringParams) -> list[dict]:
    """Every check, each with its value, threshold and whether it fired."""
    auc = domain_auc(ref["X"], cur["X"], p.seed)
    label_psi, label_p = psi(ref["proba"], cur["proba"]), chi_square_p(ref["proba"], cur["proba"])
    shifted = label_psi > p.psi and label_p < p.chi2_p  # a large shift that is also not chance
    ref_conf, cur_conf = float(ref["proba"].max(axis=1).mean()), float(cur["proba"].max(axis=1).mean())
    length_ks = float(stats.ks_2samp(ref["lengths"], cur["lengths"]).statistic)
    checks = [
        check("domain_classifier_auc", auc, p.domain_auc, auc > p.domain_auc),
        check("prediction_psi", label_psi, p.psi, shifted,
              dict(zip(LABELS, label_shares(ref["proba"]).round(4).tolist())),
              dict(zip(LABELS, label_shares(cur["proba"]).round(4).tolist()))),
        check("prediction_chi2_p", label_p, p.chi2_p, shifted),
        check("mean_confidence_drop", ref_conf - cur_conf, p.confidence_drop, ref_conf - cur_conf > p.confidence_drop,
              ref_conf, cur_conf),
        check("length_ks", length_ks, p.length_ks, length_ks > p.length_ks,
              float(np.mean(ref["lengths"])), float(np.mean(cur["lengths"]))),
    ]
    if ref["oov"] is not None:
        rise = cur["oov"] - ref["oov"]
        checks.append(check("oov_rate_increase", rise, p.oov_increase, rise > p.oov_increase, ref["oov"], cur["oov"]))
    return checks
