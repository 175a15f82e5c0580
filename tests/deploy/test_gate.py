"""The interim promotion gate: the model must beat every baseline recorded in its manifest."""
from __future__ import annotations

import json
import shutil

import pytest

from tweetops import gate
from tweetops.cli import main
from tweetops.config import GateParams
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


# The champion/challenger rule (gate.challenge): both metrics come from the same test split.
RULE = GateParams(min_delta=0.002, max_class_drop=0.02)


def scored(macro: float, negative: float, neutral: float, positive: float) -> dict:
    return {"macro_f1": macro, "per_class": {"negative": {"f1": negative}, "neutral": {"f1": neutral},
                                             "positive": {"f1": positive}}}


def challenger(macro: float, negative: float, neutral: float, positive: float) -> dict:
    return {**manifest(macro), "metrics": scored(macro, negative, neutral, positive)}


def test_a_challenger_better_by_min_delta_with_no_large_class_drop_is_promoted():
    decision = gate.challenge(challenger(0.760, 0.84, 0.57, 0.87), scored(0.750, 0.85, 0.55, 0.85), RULE, "1")
    assert decision["promote"] and decision["against"] == "champion" and decision["champion"] == "1"
    assert decision["delta"] == pytest.approx(0.010)
    assert decision["class_f1_drop"]["negative"] == pytest.approx(0.01)
    assert decision["sentence"].startswith("promoted: macro-F1 0.7600 vs champion 0.7500")


def test_an_improvement_below_min_delta_is_not_promoted():
    decision = gate.challenge(challenger(0.7515, 0.85, 0.55, 0.85), scored(0.750, 0.85, 0.55, 0.85), RULE, "1")
    assert not decision["promote"]
    assert decision["reasons"] == ["macro-F1 0.7515 vs champion 0.7500 on this run's test split: +0.0015 "
                                   "(below the required +0.0020)"]


def test_a_better_macro_f1_with_one_class_dropping_too_far_is_not_promoted():
    decision = gate.challenge(challenger(0.770, 0.82, 0.60, 0.89), scored(0.750, 0.85, 0.55, 0.85), RULE, "1")
    assert not decision["promote"] and decision["delta"] > RULE.min_delta
    assert decision["reasons"][1] == "F1 negative drops by 0.0300, more than max_class_drop 0.0200"


def test_without_a_champion_the_first_model_must_beat_every_baseline():
    first = gate.challenge(challenger(0.75, 0.8, 0.6, 0.85), None, RULE)
    assert first["promote"] and first["against"] == "baselines" and first["champion"] is None
    weak = gate.challenge(challenger(0.60, 0.6, 0.5, 0.7), None, RULE)
    assert not weak["promote"] and "does not beat vader_compound (0.6900)" in weak["reasons"][0]
