"""The one place the served model is put together: normaliser -> features -> classifier, as ONE
scikit-learn Pipeline from raw text to class probabilities.

The feature_engineering stage fits `build_features`, the model_training stage fits `make_classifier`
on its matrices and `assemble` joins them with the normaliser; the quality benchmark builds the same.
"""
from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from tweetops.model.lexicon import VaderFeatures
from tweetops.model.normalizer import mark_negation, normalizer_from
from tweetops.settings import FeatureParams, Params, TrainingParams


def build_features(p: FeatureParams) -> FeatureUnion:
    """Word n-grams (negation-marked) + char_wb n-grams, TF-IDF; plus scaled VADER features."""
    parts = [
        ("word", TfidfVectorizer(ngram_range=(1, p.word_ngram_max), sublinear_tf=True, max_features=p.max_features,
                                 preprocessor=mark_negation if p.negation else str.lower,
                                 token_pattern=r"(?u)[@#]?\b\w[\w']*\b")),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(p.char_ngram_min, p.char_ngram_max),
                                 min_df=p.char_min_df, sublinear_tf=True, max_features=p.max_features)),
    ]
    if p.lexicon:
        parts.append(("lexicon", Pipeline([("vader", VaderFeatures(log_counts=True)), ("scale", StandardScaler())])))
    return FeatureUnion(parts)


def make_classifier(p: TrainingParams) -> LogisticRegression:
    return LogisticRegression(C=p.C, class_weight=p.class_weight, max_iter=p.max_iter)


def assemble(params: Params, features, classifier) -> Pipeline:
    """The served model: ONE Pipeline from raw text to class probabilities."""
    return Pipeline([("normalize", normalizer_from(params.preprocessing)), ("features", features),
                     ("classifier", classifier)])
