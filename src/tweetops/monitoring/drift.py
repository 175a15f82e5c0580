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
from tweetops.model.encoder import linear_of
from tweetops.settings import MonitoringParams

EPSILON = 1e-4  # keeps PSI finite when a label is absent on one side


TOP_WORDS, TOP_EXAMPLES = 15, 10  # what the report shows of what drifted


def domain_auc(X_ref, X_cur, seed: int) -> tuple[float, np.ndarray]:
    """Cross-validated ROC-AUC of a classifier telling current rows from reference rows, and each current
    row's out-of-fold score (the higher, the less it looks like the reference).

    About 0.5 when the two are indistinguishable; near 1 when the current text is another kind of text.
    """
    X = sparse.vstack([X_ref, X_cur], format="csr")
    y = np.r_[np.zeros(X_ref.shape[0]), np.ones(X_cur.shape[0])]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(C=1.0, max_iter=1000), X, y, cv=folds, method="decision_function")
    return float(roc_auc_score(y, scores)), scores[X_ref.shape[0]:]


def unlike_reference(texts: list[str], scores: np.ndarray, top: int = TOP_EXAMPLES) -> list[dict]:
    """The current texts the domain classifier finds least like the reference, most unlike first."""
    order = np.argsort(-scores, kind="stable")[:top]
    return [{"text": texts[i], "score": round(float(scores[i]), 4)} for i in order]


def word_shares(texts: list[str], analyzer) -> dict[str, float]:
    """Share of texts holding each word (unigram), as the model's word vectoriser splits them."""
    counts: dict[str, int] = {}
    for text in texts:
        for token in {t for t in analyzer(text) if " " not in t}:
            counts[token] = counts.get(token, 0) + 1
    return {word: n / max(len(texts), 1) for word, n in counts.items()}


def moved_words(ref: dict, cur: dict, top: int = TOP_WORDS) -> dict[str, list[dict]]:
    """The words whose share of texts rose and fell most from the reference to the current window."""
    if ref["words"] is None:
        return {"rising": [], "falling": []}
    moves = [(cur["words"].get(w, 0.0) - ref["words"].get(w, 0.0), w) for w in set(ref["words"]) | set(cur["words"])]

    def row(w: str) -> dict:
        return {"word": w, "reference": round(ref["words"].get(w, 0.0), 4),
                "current": round(cur["words"].get(w, 0.0), 4)}

    rising = sorted((m for m in moves if m[0] > 0), key=lambda m: (-m[0], m[1]))[:top]
    falling = sorted((m for m in moves if m[0] < 0), key=lambda m: (m[0], m[1]))[:top]
    return {"rising": [row(w) for _, w in rising], "falling": [row(w) for _, w in falling]}


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
    linear = linear_of(model)  # the encoder family's blend holds the linear Pipeline the checks read
    normalised = linear[0].transform(texts)  # once: the features, the OOV rate and the word shares read it
    X = linear[1:-1].transform(normalised)
    vocabulary = word_vocabulary(linear)
    if proba is None:
        proba = linear[-1].predict_proba(X) if linear is model else model.predict_proba(texts)
    return {"n": len(texts), "X": X, "proba": proba,
            "texts": list(texts), "lengths": np.array([len(t) for t in texts]),
            "oov": None if vocabulary is None else oov_rate(normalised, *vocabulary),
            "words": None if vocabulary is None else word_shares(normalised, vocabulary[0])}


def word_vocabulary(model):
    """(analyzer, vocabulary) of the bundle's fitted word vectoriser, or None when it has none."""
    features = model[:-1][-1]
    for name, part in getattr(features, "transformer_list", []):
        if name == "word" and hasattr(part, "vocabulary_"):
            return part.build_analyzer(), part.vocabulary_
    return None


def _share(value: float) -> str:
    return f"{value:.0%}"


def explain(c: dict) -> str:
    """One line in plain words of what a check found, its value and when it alerts."""
    name, value, limit, fired, ref, cur = (c["name"], c["value"], c["threshold"], c["drift"], c["reference"],
                                           c["current"])
    if name == "domain_classifier_auc":
        return (f"Texts look different from training: a classifier tells them apart with AUC {value:.2f} (alert "
                f"above {limit:g})." if fired else f"Texts look like training: a classifier tells them apart with "
                f"AUC {value:.2f} only (alert above {limit:g}).")
    if name == "prediction_psi":
        shares = ", ".join(f"{label} {_share(ref[label])} -> {_share(cur[label])}" for label in ref)
        return (f"Predicted labels {'shifted' if fired else 'hold steady'}: {shares}; PSI {value:.3f} (alert above "
                f"{limit:g} when the chi-square test also says it is not chance).")
    if name == "prediction_chi2_p":
        return (f"The label shift is not chance: chi-square p {value:.2g} (alert below {limit:g}, with the PSI)."
                if value < limit else f"The label counts differ no more than chance would: chi-square p {value:.2g} "
                f"(alert below {limit:g}, with the PSI).")
    if name == "mean_confidence_drop":
        return (f"The model is {'less sure than' if fired else 'about as sure as'} in training: mean confidence "
                f"{ref:.2f} -> {cur:.2f} (alert on a drop above {limit:g}).")
    if name == "length_ks":
        return (f"Text lengths {'differ' if fired else 'look alike'}: mean {ref:.0f} -> {cur:.0f} characters, "
                f"KS {value:.2f} (alert above {limit:g}).")
    return (f"{'More' if fired else 'About as many'} words the model never saw: {_share(ref)} -> {_share(cur)} of "
            f"words (alert on a rise above {_share(limit)}).")


def compare(ref: dict, cur: dict, p: MonitoringParams) -> tuple[list[dict], dict]:
    """Every check, each with its value, threshold, whether it fired and a sentence saying so; and what
    drifted: the words that moved most and the current texts least like the reference."""
    auc, scores = domain_auc(ref["X"], cur["X"], p.seed)
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
    for c in checks:
        c["sentence"] = explain(c)
    return checks, {"words": moved_words(ref, cur), "unlike_reference": unlike_reference(cur["texts"], scores)}
