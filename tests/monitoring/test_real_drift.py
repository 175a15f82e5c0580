"""Real shift, not synthetic: other kinds of text from the same archive are drift, unseen tweets are not."""
from __future__ import annotations

import base64

import pandas as pd
import pytest

from tests.monitoring.conftest import DRIFT, DRIFT_SETS
from tweetops.model.bundle import verify_bundle
from tweetops.io.files import sha256_file


def test_the_bundle_carries_its_reference_with_a_verified_hash(trained_bundle, trained_project):
    manifest = verify_bundle(trained_bundle)
    reference = pd.read_parquet(trained_bundle / "reference.parquet")
    assert manifest["files"]["reference.parquet"] == sha256_file(trained_bundle / "reference.parquet")
    test = pd.read_parquet(trained_project / "data" / "processed" / "test.parquet")
    assert len(reference) == min(2000, len(test) // 2)  # monitoring.reference_rows, at most half the test split
    assert set(reference["id"]) <= set(test["id"].astype(str))  # test rows only: never what the model was fitted on
    probabilities = reference[["p_negative", "p_neutral", "p_positive"]].sum(axis=1)
    assert probabilities.between(0.999, 1.001).all()


@pytest.mark.parametrize("name", DRIFT_SETS)
def test_each_real_drift_set_is_flagged(run_monitor, held_out_tweets, name):
    run = run_monitor("--input", DRIFT / name, "--max-rows", len(held_out_tweets))
    assert run.code == 3, run.out + run.err
    assert run.report["verdict"] == "drift" and run.report["exit_code"] == 3
    assert run.report["current_rows"] == len(held_out_tweets)
    assert "domain_classifier_auc" in run.fired()  # told apart from tweets on the model's own features
    assert run.out.startswith("verdict: drift")


def test_held_out_tweets_are_not_flagged(run_monitor, held_out_tweets, tmp_path):
    path = tmp_path / "held_out.csv"
    pd.DataFrame({"text": held_out_tweets}).to_csv(path, index=False)
    run = run_monitor("--input", path)
    assert run.code == 0, run.out + run.err
    assert run.report["verdict"] == "no_drift" and run.report["current_rows"] == len(held_out_tweets)
    assert {c["name"] for c in run.report["checks"]} == {
        "domain_classifier_auc", "prediction_psi", "prediction_chi2_p", "mean_confidence_drop", "length_ks",
        "oov_rate_increase"}
    assert run.fired() == set()


def test_the_html_report_stands_alone_with_its_plots(run_monitor):
    run = run_monitor("--input", DRIFT / DRIFT_SETS[2], "--max-rows", 300)
    assert run.code == 3
    html = (run.folder / "drift.html").read_text()
    assert "DRIFT: the current traffic differs" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html  # nothing fetched from elsewhere
    images = html.split("src='data:image/png;base64,")[1:]
    assert len(images) == 3  # predicted labels, confidence, text length
    for image in images:
        assert base64.b64decode(image.split("'", 1)[0]).startswith(b"\x89PNG")
