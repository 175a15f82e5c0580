"""The serving fast path replays the bundle's arithmetic bit for bit, on every bundled tweet and on odd text."""
import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from tweetops.model import fast_path
from tweetops.model.bundle import load_bundle
from tweetops.model.fast_path import compiled_model, fast_predict_proba

ODD_TEXTS = [
    "", "   ", "a", "I  love\tit\n\nso   much!!!", "ΣΑΣ ΟΔΟΣ", "naïve café 😀 :-) #happy @bob http://x.y",
    "x" * 1000, "\u00a0\u2003word\u2028line", "NOT bad, not bad at all...", "zzzqqq xxyyzz",
]


@pytest.fixture(scope="module")
def model(trained_bundle):
    return load_bundle(trained_bundle).model


@pytest.fixture(scope="module")
def tweets(raw_path) -> list[str]:
    return pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=3)["text"].tolist()


def test_the_trained_bundle_compiles(model):
    compiled = compiled_model(model)
    assert compiled is not None
    assert [type(block).__name__ for block, _ in compiled.blocks] == ["_TfidfBlock", "_TfidfBlock", "_DenseBlock"]


def test_every_bundled_tweet_gets_exactly_the_pipelines_probabilities(model, tweets):
    texts = tweets + ODD_TEXTS
    expected = model.predict_proba(texts)
    assert np.array_equal(compiled_model(model).predict_proba(texts), expected)  # one batch
    singles = np.vstack([fast_predict_proba(model, [t]) for t in texts[:400] + ODD_TEXTS])
    assert np.array_equal(singles, np.vstack([expected[:400], expected[-len(ODD_TEXTS):]]))  # one text a call


def test_the_word_memo_starting_afresh_changes_nothing(model, tweets, monkeypatch):
    monkeypatch.setattr(fast_path, "WORD_CACHE_LIMIT", 50)
    compiled = fast_path.compile_model(model)  # a fresh memo, refilled many times over
    texts = tweets[:300]
    assert np.array_equal(compiled.predict_proba(texts), model.predict_proba(texts))
    char_block = compiled.blocks[1][0]
    assert 0 < len(char_block.memo) <= 50


def test_other_shapes_keep_the_generic_path(tweets):
    labels = np.array(["negative", "neutral", "positive"] * 20)
    union = FeatureUnion([("word", TfidfVectorizer(binary=True)), ("char", TfidfVectorizer(analyzer="char"))])
    for classifier in (LogisticRegression(max_iter=500), LinearSVC()):
        pipe = Pipeline([("features", union), ("classifier", classifier)]).fit(tweets[:60], labels)
        assert fast_path.compile_model(pipe) is None  # binary counts and char (not char_wb) n-grams
    svc = Pipeline([("features", TfidfVectorizer()), ("classifier", LinearSVC())]).fit(tweets[:60], labels)
    assert fast_path.compile_model(svc) is None
    generic = Pipeline([("features", FeatureUnion([("word", TfidfVectorizer(binary=True))])),
                        ("classifier", LogisticRegression(max_iter=500))]).fit(tweets[:60], labels)
    assert compiled_model(generic) is None
    assert np.array_equal(fast_predict_proba(generic, tweets[:50]), generic.predict_proba(tweets[:50]))
