"""The model card: written by training into the run's reports and the bundle, with measured content."""
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from tests.conftest import ROOT
from tweetops.model.bundle import verify_bundle
from tweetops.release.behaviour import CHECKS
from tweetops.model import LABELS
from tweetops.errors import TweetopsError
from tweetops.io.files import read_json
from tweetops.model.bundle import CARD_FILE, read_card
from tweetops.release.model_card import bootstrap_ci, provenance, worst_errors


@pytest.fixture(scope="module")
def card(trained_bundle) -> str:
    return read_card(trained_bundle)


def test_training_writes_the_card_into_the_reports_and_the_hashed_bundle(trained_project, trained_bundle, card):
    manifest = verify_bundle(trained_bundle)
    assert CARD_FILE in manifest["files"]  # so the image carries it and a changed card is refused
    assert (trained_project / "reports" / trained_bundle.name / CARD_FILE).read_text(encoding="utf-8") == card
    for heading in ("Intended use", "Out of scope", "Training data", "Label definition", "Metrics against baselines",
                    "Known failure modes", "Pseudo-label ablation", "Promotion gate", "Versions"):
        assert f"## {heading}" in card
    assert f"run id `{manifest['run_id']}`" in card and f"data sha256 `{manifest['data']['sha256']}`" in card
    assert f"| **this model** | {manifest['metrics']['macro_f1']:.4f} |" in card
    assert f"{len(CHECKS)} of {len(CHECKS)} pass" in card  # tests/model/test_behaviour.py asserts the same
    # The session's first model has no champion to face: it is judged against the baselines.
    assert "Decision: **promoted** (challenger" in card and "against the baselines (no champion yet)" in card


def test_the_card_lists_real_test_errors(trained_project, trained_bundle, card):
    predictions = pd.read_parquet(trained_project / "reports" / trained_bundle.name / "test_predictions.parquet")
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    worst = worst_errors(wrong, wrong[[f"p_{label}" for label in LABELS]].to_numpy())
    assert len(worst) == 5 and (worst["label"] != worst["predicted"]).all()
    assert f"| {worst['text'].iloc[0][:60]}" in card


def test_a_changed_card_is_refused(trained_bundle, tmp_path):
    copy = shutil.copytree(trained_bundle, tmp_path / "bundle")
    (copy / CARD_FILE).write_text("# a card nobody measured\n")
    with pytest.raises(TweetopsError, match="does not match the sha256"):
        verify_bundle(copy)


def test_bootstrap_matches_sklearn_and_brackets_the_estimate(trained_project, trained_bundle):
    predictions = pd.read_parquet(trained_project / "reports" / trained_bundle.name / "test_predictions.parquet")
    y, p = predictions["label"].to_numpy(object), predictions["predicted"].to_numpy(object)
    rows = np.random.default_rng(7).integers(0, len(y), size=(1, len(y)))[0]
    one = bootstrap_ci(y, p, resamples=1, seed=7)  # one resample: both bounds are that resample's value
    assert one["macro_f1"][0] == pytest.approx(f1_score(y[rows], p[rows], labels=list(LABELS), average="macro"))
    assert one["accuracy"][0] == pytest.approx(accuracy_score(y[rows], p[rows]))
    ci = bootstrap_ci(y, p)
    metrics = read_json(trained_bundle / "manifest.json")["metrics"]
    assert ci["macro_f1"][0] < metrics["macro_f1"] < ci["macro_f1"][1]
    assert ci["accuracy"][0] < metrics["accuracy"] < ci["accuracy"][1]
    assert bootstrap_ci(y, y) == {"macro_f1": [1.0, 1.0], "accuracy": [1.0, 1.0]}


def test_provenance_comes_from_the_file_beside_the_source(tmp_path):
    fields = provenance("data/raw/tweets_GroundTruth.txt", ROOT)
    assert fields["licence"].startswith("MIT") and "Hutto" in fields["citation"]
    assert provenance("data/raw/tweets_GroundTruth.txt", tmp_path) == {}
    assert provenance("s3://bucket/tweets.tsv", ROOT) == {}


def test_a_bundle_without_a_card_reads_as_none(tmp_path):
    assert read_card(tmp_path) is None
