import numpy as np
import pandas as pd
import pytest

from tweetops.model.fast_path import fast_predict_proba
from tweetops.serving.inference import InputError, Limits, load_predictor, validate_batch, validate_text


def test_the_fast_path_equals_the_pipeline_exactly(trained_bundle, raw_path):
    predictor = load_predictor(trained_bundle)
    texts = pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"],
                        quoting=3)["text"].tolist()[:500]
    expected = predictor.bundle.model.predict_proba(texts)
    assert np.array_equal(fast_predict_proba(predictor.bundle.model, texts), expected)
    assert np.array_equal(predictor.predict_proba(texts[:1]), expected[:1])
    answers = predictor.predict(texts[:3])
    assert [a["label"] for a in answers] == list(np.array(predictor.labels)[expected[:3].argmax(axis=1)])
    assert predictor.predict([]) == []


@pytest.mark.parametrize("value, message", [
    (None, "text must be a string, got NoneType"),
    (42, "text must be a string, got int"),
    ("   ", "text is empty"),
    ("x" * 1001, "text has 1,001 characters; the limit is 1,000"),
])
def test_text_validation_says_what_to_fix(value, message):
    with pytest.raises(InputError, match=message):
        validate_text(value, Limits().max_chars)


def test_batch_validation_names_the_bad_item():
    assert validate_batch(["a", "b"], Limits()) == ["a", "b"]
    with pytest.raises(InputError, match=r"texts\[1\]: text is empty"):
        validate_batch(["fine", ""], Limits())
    with pytest.raises(InputError, match="the limit is 1,000 per request"):
        validate_batch(["a"] * 1001, Limits())
