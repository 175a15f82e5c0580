import numpy as np
import pytest
from sklearn.base import clone

from tweetops.model.lexicon import VaderFeatures, vader_scores
from tweetops.model.normalizer import TweetNormalizer, mark_negation


@pytest.mark.parametrize("raw, expected", [
    ("Fish &amp; chips &lt;3", "Fish & chips <3"),
    ("read this http://url_removed now", "read this url now"),
    ("see https://t.co/abc?x=1 and www.example.org", "see url and url"),
    ("@anonymous thanks @bob!", "@user thanks @user !"),
    ("mail me at a@b.com", "mail me at a@b.com"),
    ("#happy days #1", "happy days 1"),
    ("soooooo gooood!!!", "soo good!!!"),
    ("I LOVE it :-) 😍", "I LOVE it :-) 😍"),
    ("  spaced \t out \r\n text ", "spaced out text"),
])
def test_normalisation(raw, expected):
    assert TweetNormalizer().transform([raw])[0] == expected


def test_options_switch_steps_off_and_the_transformer_follows_sklearn_rules():
    normalizer = TweetNormalizer(replace_urls=False, replace_mentions=False, max_char_repeat=0)
    assert normalizer.transform(["@bob http://x.y sooooo"])[0] == "@bob http://x.y sooooo"
    assert clone(normalizer).get_params() == normalizer.get_params()
    assert TweetNormalizer().fit_transform(np.array(["a", "b"])).tolist() == ["a", "b"]


def test_vader_features_read_sentiment_intensity_and_negation():
    features = VaderFeatures().fit([])
    rows = features.transform(["I love this", "I do not love this", "I LOVE this!!!", "the bus is late"])
    names = list(features.get_feature_names_out())
    compound, valence = names.index("vader_compound"), names.index("vader_valence_sum")
    assert rows[0, compound] > 0.5 > rows[3, compound] >= 0
    assert rows[1, compound] < 0  # negation flips the sign
    assert rows[2, valence] > rows[0, valence]  # caps and exclamations intensify
    assert rows.shape == (4, len(names))
    assert vader_scores("😍")["compound"] > 0  # emoji are read by VADER, so they are kept


@pytest.mark.parametrize("raw, expected", [
    ("This is not good, but fine", "this is not good_neg , but fine"),
    ("I don't like it. Love it!", "i don't like_neg it_neg . love it !"),
    ("never again", "never again_neg"),
])
def test_negation_scope_is_marked_for_the_word_ngrams(raw, expected):
    assert mark_negation(raw) == expected
