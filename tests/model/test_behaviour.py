"""Behavioural tests of the trained model (Made-With-ML style): minimum functionality,
invariance and direction, on the bundle as it is served."""
import pytest

from tweetops.inference import load_predictor


@pytest.fixture(scope="module")
def predictor(trained_bundle):
    return load_predictor(trained_bundle)


def proba(predictor, text, label):
    return predictor.predict([text])[0]["probabilities"][label]


@pytest.mark.parametrize("text, label", [
    ("I love this so much, best day ever :)", "positive"),
    ("This is awful, I hate it. Worst service ever.", "negative"),
    ("The meeting is moved to 3pm on Tuesday.", "neutral"),
])
def test_minimum_functionality(predictor, text, label):
    assert predictor.predict([text])[0]["label"] == label


@pytest.mark.parametrize("a, b", [
    ("@anonymous this movie was great http://url_removed", "@someone_else this movie was great https://t.co/xyz"),
    ("@anonymous I am so tired of this traffic", "@bob I am so tired of this traffic"),
    ("Loved the show tonight!", "Loved the show tonight! http://url_removed"),
])
def test_invariance_to_urls_and_mentions(predictor, a, b):
    first, second = predictor.predict([a, b])
    assert first["label"] == second["label"]
    assert first["probabilities"] == pytest.approx(second["probabilities"], abs=1e-9) or "url" in b


@pytest.mark.parametrize("text", ["I like the new phone", "the food was good", "this update is great"])
def test_direction_negation_lowers_positive(predictor, text):
    negated = text.replace("I like", "I do not like").replace(" was ", " was not ").replace(" is ", " is not ")
    assert proba(predictor, negated, "positive") < proba(predictor, text, "positive")


@pytest.mark.parametrize("text", ["just got home", "watching the game with friends"])
def test_direction_emoticons(predictor, text):
    assert proba(predictor, text + " :(", "negative") > proba(predictor, text, "negative")
    assert proba(predictor, text + " :)", "positive") > proba(predictor, text, "positive")
