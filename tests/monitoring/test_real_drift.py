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
    pd.DataFrame({"id": range(len(held_out_tweets)), "tweet": held_out_tweets}).to_csv(path, index=False)
    with open(path, "a") as handle:
        # A row without text, one of invisible characters (no text to the API either), one not readable: counted.
        handle.write("x,\ny,\u200b\u3164\nonly one field\n")
    run = run_monitor("--input", path, "--text-column", "tweet")
    assert run.code == 0, run.out + run.err
    assert run.report["verdict"] == "no_drift" and run.report["current_rows"] == len(held_out_tweets)
    assert (run.report["skipped_rows"], run.report["unreadable_rows"], run.report["left_out_rows"]) == (3, 1, 0)
    assert run.report["rows_used"] == (f"{len(held_out_tweets):,} of {len(held_out_tweets) + 3:,} rows used; 0 older "
                                       "left out (more than max_rows), 1 unreadable, 2 without text")
    assert run.report["checks"][0]["sentence"].startswith("Texts look like training: a classifier tells them apart "
                                                          "with AUC 0.")
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


def test_the_report_says_what_drifted_and_what_was_left_out(run_monitor, tmp_path):
    """The three corpora in one archive-format .txt, newest last: only the newest are judged, and it says so."""
    path = tmp_path / "all.txt"
    path.write_bytes(b"".join((DRIFT / name).read_bytes().rstrip(b"\n") + b"\n" for name in DRIFT_SETS))
    texts = [line.split("\t", 2)[2] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    run = run_monitor("--input", path, "--max-rows", 1000)
    assert run.code == 3, run.out + run.err
    report = run.report
    assert (report["source_rows"], report["current_rows"], report["left_out_rows"]) == (len(texts), 1000,
                                                                                        len(texts) - 1000)
    assert len(texts) == 19_503 and report["skipped_rows"] == 0
    line = ("1,000 of 19,503 rows used: the newest; 18,503 older left out (more than max_rows), 0 unreadable, "
            "0 without text")
    assert report["rows_used"] == line and f"monitor: {line} of {path}" in run.err
    auc = report["checks"][0]
    assert auc["sentence"] == (f"Texts look different from training: a classifier tells them apart with AUC "
                               f"{auc['value']:.2f} (alert above 0.7).") and auc["drift"]
    words, unlike = report["what_drifted"]["words"], report["what_drifted"]["unlike_reference"]
    assert len(words["rising"]) == len(words["falling"]) == 15 and len(unlike) == 10
    assert all(w["current"] > w["reference"] for w in words["rising"])
    assert all(w["current"] < w["reference"] for w in words["falling"])
    assert all(x["text"] in texts[-1000:] for x in unlike)
    assert [x["score"] for x in unlike] == sorted((x["score"] for x in unlike), reverse=True)
    html = (run.folder / "drift.html").read_text()
    assert "<h2>What drifted</h2>" in html and f"<td>{words['rising'][0]['word']}</td>" in html
    assert html.count("<li>") == 10 and auc["sentence"] in html and line in html
