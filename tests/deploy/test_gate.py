"""The interim promotion gate: the model must beat every baseline recorded in its manifest."""
from __future__ import annotations

import json
import shutil

import pytest

from tweetops import gate
from tweetops.cli import main
from tweetops.errors import TweetopsError


def manifest(model: float, ablation_used: bool = False, **baselines) -> dict:
    rows = {"majority_class": 0.24, "vader_compound": 0.69, "supervised_only": model, **baselines}
    return {"run_id": "r1", "metrics": {"macro_f1": model}, "ablation": {"used": ablation_used},
            "baselines": {name: {"macro_f1": value} for name, value in rows.items()}}


def test_a_model_beating_every_rival_passes_and_its_own_twin_is_not_a_rival():
    decision = gate.decide(manifest(0.75))
    assert decision["passed"] and decision["failed"] == []
    twin = next(r for r in decision["baselines"] if r["baseline"] == "supervised_only")
    assert twin["beaten"] is None and "model itself" in twin["note"]


def test_a_model_below_a_baseline_fails_and_names_it():
    decision = gate.decide(manifest(0.60))
    assert not decision["passed"] and decision["failed"] == ["vader_compound"]
    assert "does not beat vader_compound (0.6900)" in gate.sentence(decision)


def test_with_pseudo_labels_the_supervised_model_is_a_rival():
    decision = gate.decide(manifest(0.74, ablation_used=True, supervised_only=0.75))
    assert decision["failed"] == ["supervised_only"]


def test_a_manifest_without_metrics_is_a_clear_error():
    with pytest.raises(TweetopsError, match="no metrics.macro_f1"):
        gate.decide({"run_id": "x", "baselines": {}})


def test_cli_passes_the_trained_bundle_and_writes_its_decision(trained_bundle, tmp_path, capsys):
    out = tmp_path / "gate.json"
    assert main(["gate", "--bundle", str(trained_bundle), "--output", str(out)]) == 0
    assert "gate passed" in capsys.readouterr().out
    decision = json.loads(out.read_text())
    assert decision["passed"] and decision["run_id"] == trained_bundle.name


def test_cli_fails_with_one_sentence_when_a_baseline_wins(trained_bundle, tmp_path, capsys, monkeypatch):
    bundle = tmp_path / "models" / trained_bundle.name
    shutil.copytree(trained_bundle, bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data["metrics"]["macro_f1"] = 0.1  # the manifest's own hash is not recorded; the model file's is
    (bundle / "manifest.json").write_text(json.dumps(data))
    monkeypatch.setenv("TWEETOPS_HOME", str(tmp_path))
    assert main(["gate", "--bundle", str(bundle)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run ") and "does not beat majority_class" in err and "Traceback" not in err
    assert json.loads((tmp_path / "reports" / trained_bundle.name / "gate.json").read_text())["passed"] is False


def test_cli_refuses_a_folder_that_is_not_a_bundle(tmp_path, capsys):
    assert main(["gate", "--bundle", str(tmp_path)]) == 2
    assert "is not a model bundle" in capsys.readouterr().err
