"""The whole pipeline on the real bundled tweets: artefacts, manifest, gate-worthy metrics,
reproducibility, the stages run one by one as the retrain workflow runs them, and CLI errors."""
import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import make_project
from tweetops.errors import TweetopsError
from tweetops.model.bundle import load_bundle
from tweetops.pipeline.runner import STAGES, run_all
from tweetops.pipeline.runs import Request

BUNDLED_SHA = "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f"


def run_cli(args, cwd, **env):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_run_writes_the_bundle_reports_and_manifest(trained_project, trained_bundle):
    run_id = trained_bundle.name
    assert (trained_project / "models" / "champion").readlink().name == run_id
    assert not (trained_project / "models" / "latest").exists()  # no pointer that moves on every run
    bundle_files = {"model.joblib", "model_card.md", "reference.parquet", "trained_on.npy"}
    assert {p.name for p in trained_bundle.iterdir()} == bundle_files | {"manifest.json", "manifest.sha256"}
    reports = trained_project / "reports" / run_id
    for name in ("metrics.json", "confusion_matrix.png", "clusters.md", "summary.md", "test_predictions.parquet"):
        assert (reports / name).stat().st_size > 0, name
    assert (reports / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    manifest = load_bundle(trained_bundle).manifest
    assert manifest["run_id"] == run_id
    assert manifest["data"]["sha256"] == BUNDLED_SHA and manifest["data"]["rows"] == 4200
    assert manifest["data"]["preparation"]["labels"] == {"negative": 1062, "neutral": 838, "positive": 2300}
    assert manifest["params"]["labels"]["positive_above"] == 0.5
    assert set(manifest["files"]) == bundle_files
    assert manifest["libraries"]["scikit-learn"] and manifest["git_commit"]
    assert set(manifest["baselines"]) == {"majority_class", "supervised_only", "vader_compound"}
    summary = (reports / "summary.md").read_text()
    assert "rows in 4,200 = kept 4,200 + quarantined 0" in summary and "VADER compound rule" in summary


def test_the_model_beats_every_baseline_on_the_test_split(trained_bundle):
    manifest = load_bundle(trained_bundle).manifest
    metrics, baselines = manifest["metrics"], manifest["baselines"]
    assert metrics["per_class"]["negative"]["support"] == 212 and sum(
        m["support"] for m in metrics["per_class"].values()) == 840
    assert metrics["macro_f1"] > baselines["vader_compound"]["macro_f1"] + 0.03
    assert metrics["macro_f1"] >= baselines["supervised_only"]["macro_f1"]
    assert baselines["majority_class"]["per_class"]["positive"]["recall"] == 1.0


def test_a_tampered_model_is_refused(trained_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(trained_bundle, copy)
    with open(copy / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(TweetopsError, match="does not match the sha256 in its manifest"):
        load_bundle(copy)
    (copy / "model.joblib").unlink()
    with pytest.raises(TweetopsError, match="is not a model bundle"):
        load_bundle(copy)


def test_stages_run_one_by_one_reproduce_the_run_exactly(trained_project, trained_bundle, tmp_path):
    """As the retrain workflow runs them: each stage its own process; same data and params, same model."""
    project = make_project(tmp_path / "again")
    for stage in STAGES:
        result = run_cli(["-m", f"tweetops.pipeline.{stage}"], cwd=project, TWEETOPS_RUN_ID="repeat")
        assert result.returncode == 0, result.stderr
    first = json.loads((trained_project / "reports" / trained_bundle.name / "metrics.json").read_text())
    again = json.loads((project / "reports" / "repeat" / "metrics.json").read_text())
    assert again["metrics"] == first["metrics"] and again["baselines"] == first["baselines"]
    predictions = [pd.read_parquet(root / "reports" / run / "test_predictions.parquet")
                   for root, run in ((trained_project, trained_bundle.name), (project, "repeat"))]
    pd.testing.assert_frame_equal(*predictions)


def test_a_label_budget_uses_pseudo_labels_only_where_they_help(tmp_path):
    project = make_project(tmp_path / "budget")
    results = run_all(Request(project / "params.yaml", {"split.labeled_fraction": 0.1}))
    clusters = results["clustering"]
    assert clusters["unlabeled"] == 3024 and clusters["confident"] > 0
    assert 0 < clusters["pseudo_label_accuracy"] <= 1
    manifest = load_bundle(results["model_training"]["bundle"]).manifest
    assert manifest["params"]["split"]["labeled_fraction"] == 0.1
    ablation = manifest["ablation"]
    assert ablation["pseudo_rows"] == clusters["confident"]
    decided = ablation["validation_macro_f1_with_pseudo"] > ablation["validation_macro_f1_gold_only"]
    assert ablation["used"] == decided
    report = (project / "reports" / manifest["run_id"] / "clusters.md").read_text()
    assert "pseudo-label accuracy against the hidden gold labels" in report
    assert manifest["metrics"]["macro_f1"] > manifest["baselines"]["majority_class"]["macro_f1"]


def test_cli_errors_are_one_sentence_and_a_nonzero_exit(tmp_path):
    project = make_project(tmp_path / "cli")
    result = run_cli(["-m", "tweetops", "run", "--source", "missing.tsv"], cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: data source")
    assert "Traceback" not in result.stderr
    result = run_cli(["-m", "tweetops.pipeline.model_training"], cwd=project)
    assert result.returncode == 2 and "no run has been started here" in result.stderr
    result = run_cli(["-m", "tweetops", "run", "--labeled-fraction", "1.5"], cwd=project)
    assert result.returncode == 2 and "labeled_fraction must be in (0, 1]" in result.stderr
