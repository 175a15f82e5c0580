"""Behavioural tests of the trained model (Made-With-ML style): minimum functionality,
invariance and direction, on the bundle as it is served. The checks live in tweetops.behaviour,
so the model card reports the outcomes of these same checks."""
import pytest

from tweetops.release.behaviour import CHECKS, Direction, Invariance, MinimumFunctionality, run_checks
from tweetops.serving.inference import load_predictor


@pytest.fixture(scope="module")
def predictor(trained_bundle):
    return load_predictor(trained_bundle)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: f"{c.kind}: {c.name}")
def test_behaviour(predictor, check):
    outcome = check.run(predictor.predict_proba)
    assert outcome.passed, f"{outcome.name}: {outcome.detail}"


def test_every_kind_of_check_is_present():
    kinds = {type(c) for c in CHECKS}
    assert kinds == {MinimumFunctionality, Invariance, Direction}


def test_a_failing_check_is_reported_not_hidden():
    """A model that always answers negative fails minimum functionality, and says what it predicted."""
    def always_negative(texts):
        import numpy as np

        return np.tile([0.8, 0.1, 0.1], (len(texts), 1))

    outcomes = {o.name: o for o in run_checks(always_negative)}
    positive = outcomes[MinimumFunctionality("I love this so much, best day ever :)", "positive").name]
    assert not positive.passed and positive.detail == "predicted negative"
    assert all(not o.passed for o in outcomes.values() if o.kind == "direction")  # nothing moves


def test_a_bundle_pickled_before_log_counts_keeps_its_raw_counts():
    """Old bundles hold VaderFeatures objects without the attribute: they answer as they were trained, and print,
    clone and report their params like any estimator."""
    import pickle

    from sklearn.base import clone

    from tweetops.model.lexicon import COUNTS, VaderFeatures

    text = ["great " * 40 + "!!"]
    raw, logged = VaderFeatures().fit(text), VaderFeatures(log_counts=True).fit(text)
    older = VaderFeatures().fit(text)
    del older.__dict__["log_counts"]  # its state as an older tweetops pickled it
    old = pickle.loads(pickle.dumps(older))
    assert old.get_params() == {"log_counts": False} and repr(clone(old)) == "VaderFeatures()"
    assert old.transform(text)[0, -1] == raw.transform(text)[0, -1] == 242  # the length, as it was
    assert logged.transform(text)[0, -1] == pytest.approx(5.493, abs=1e-3)  # log(1 + 242)
    assert (old.transform(text)[:, :COUNTS.start] == logged.transform(text)[:, :COUNTS.start]).all()
