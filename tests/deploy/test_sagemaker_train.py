"""SageMaker's training contract, without Docker: hyperparameters, channels and the failure file.
A whole training run inside the image is tests/e2e/test_image.py."""
from __future__ import annotations

import json

import pytest

from tweetops import sagemaker_train as sm
from tweetops.errors import TweetopsError


def layout(root, files=("tweets.tsv",), channel="training", hyperparameters=None):
    folder = root / "input" / "data" / channel
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("1\t0.5\thello\n")
    if hyperparameters is not None:
        (root / "input" / "config").mkdir(parents=True)
        (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return sm.MLPaths(root)


def test_string_hyperparameters_become_typed_params_overrides():
    overrides = sm.to_overrides({"labeled_fraction": "0.5", "training.C": "2", "class_weight": "null",
                                 "channel": "training"})
    assert overrides == {"split.labeled_fraction": 0.5, "training.C": 2, "training.class_weight": None}


@pytest.mark.parametrize("key, message", [("seed", "use the dotted name"), ("nope", "no such parameter"),
                                          ("training.nope", "not a params.yaml key")])
def test_unknown_or_ambiguous_hyperparameters_are_refused(key, message):
    with pytest.raises(TweetopsError, match=message):
        sm.to_overrides({key: "1"})


def test_sagemaker_own_hyperparameters_are_ignored(tmp_path):
    paths = layout(tmp_path, hyperparameters={"sagemaker_region": "eu-west-1", "_tuning_objective_metric": "f1",
                                              "labeled_fraction": "0.8"})
    assert sm.read_hyperparameters(paths.hyperparameters) == {"labeled_fraction": "0.8"}


def test_the_training_channel_and_its_one_file_are_the_source(tmp_path):
    paths = layout(tmp_path)
    (tmp_path / "input" / "data" / "validation").mkdir()
    assert sm.find_source(paths, {}).endswith("input/data/training/tweets.tsv")
    assert sm.find_source(paths, {"source": "s3://bucket/key.tsv"}) == "s3://bucket/key.tsv"


def test_several_files_need_the_file_hyperparameter(tmp_path):
    paths = layout(tmp_path, files=("a.tsv", "b.tsv"))
    with pytest.raises(TweetopsError, match="exactly one data file"):
        sm.find_source(paths, {})
    assert sm.find_source(paths, {"file": "b.tsv"}).endswith("b.tsv")


def test_a_failure_exits_non_zero_and_writes_the_failure_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)
    layout(tmp_path, files=(), channel="train")
    assert sm.main(["--ml-root", str(tmp_path)]) == 2
    reason = (tmp_path / "output" / "failure").read_text()
    assert "channel 'train' must hold exactly one data file" in reason
    assert "Traceback" not in capsys.readouterr().err


def test_a_bad_hyperparameters_file_is_reported_too(tmp_path):
    layout(tmp_path)
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text("{not json")
    assert sm.main(["--ml-root", str(tmp_path)]) == 2
    assert "is not valid JSON" in (tmp_path / "output" / "failure").read_text()
