"""VADER lexicon features: the rule-based scores of vaderSentiment as a scikit-learn transformer."""
from __future__ import annotations

import functools

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

FEATURES = ("neg", "neu", "pos", "compound", "valence_sum", "positive_sum", "negative_sum",
            "positive_words", "negative_words", "exclamations", "questions", "length")
COUNTS = slice(FEATURES.index("valence_sum"), len(FEATURES))  # the sums and counts: they grow with the text


class _Analyzer(SentimentIntensityAnalyzer):
    """Also returns the per-token valences VADER computes before squashing them into `compound`.

    The raw sum grows linearly with the evidence, which a linear model uses better than the
    squashed compound score alone.
    """

    def score_valence(self, sentiments, text):
        return {**super().score_valence(sentiments, text), "valences": list(sentiments)}


@functools.lru_cache(maxsize=1)
def analyzer() -> _Analyzer:
    return _Analyzer()


def vader_scores(text: str) -> dict:
    """VADER's neg/neu/pos/compound and the per-token valences for one text."""
    return analyzer().polarity_scores(text)


def compound(texts) -> np.ndarray:
    return np.array([vader_scores(str(t))["compound"] for t in texts])


class VaderFeatures(BaseEstimator, TransformerMixin):
    """Text in, a dense row of VADER scores and counts out (stateless).

    log_counts: each sum and count as sign(x) log(1 + |x|). Raw, they grow without bound with the text, and a
    linear model extrapolates them: "great " x 40 scored negative 1.000, a long glowing review negative. Logged,
    they stay monotone and in the range the tweets taught (benchmarks/quality.py, 5 splits: linear family
    0.764 -> 0.769). False in bundles pickled before it existed (they keep answering as they were trained).
    """

    def __init__(self, log_counts: bool = False):
        self.log_counts = log_counts

    def __setstate__(self, state):
        super().__setstate__({"log_counts": False, **state})  # pickled before it existed: raw counts, as trained

    def fit(self, X, y=None):
        self.n_features_out_ = len(FEATURES)
        return self

    def transform(self, X):
        rows = np.empty((len(X), len(FEATURES)), dtype=np.float64)
        for i, text in enumerate(X):
            text = str(text)
            s = vader_scores(text)
            v = s["valences"]
            positive = [x for x in v if x > 0]
            negative = [x for x in v if x < 0]
            rows[i] = (s["neg"], s["neu"], s["pos"], s["compound"], sum(v), sum(positive), sum(negative),
                       len(positive), len(negative), text.count("!"), text.count("?"), len(text))
        if self.log_counts:
            counts = rows[:, COUNTS]
            rows[:, COUNTS] = np.sign(counts) * np.log1p(np.abs(counts))
        return rows

    def get_feature_names_out(self, input_features=None):
        return np.array([f"vader_{name}" for name in FEATURES], dtype=object)
