"""tweetops.explore, the notebooks' helpers: which run they read, tweet traits, the label-budget sweep."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_project
from tweetops.errors import TweetopsError
from tweetops.explore import RUN_ENV, label_budget_sweep, project, repository_root, run_bundle, tweet_traits


def test_without_a_run_the_stages_run_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_ENV, raising=False)
    source = make_project(tmp_path / "repo")
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    config = project("", until="data_preparation", source_root=source)
    assert config.root != source and config.catalog.preparation_record.is_file()
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before  # nothing written into the source
    assert repository_root(source / "data" / "raw") == source


def test_an_existing_run_is_read_and_a_missing_one_is_one_sentence(trained_project, tmp_path, monkeypatch):
    config = project(str(trained_project), until="model_training")
    assert config.root == trained_project and run_bundle(config) == trained_project / "models" / \
        (trained_project / "models" / "champion").readlink().name
    monkeypatch.setenv(RUN_ENV, str(trained_project))
    assert project("", until="clustering").root == trained_project
    with pytest.raises(TweetopsError, match=f"{tmp_path} has no data/stages/model_training.json; run `tweetops run`"):
        project(str(tmp_path), until="model_training")


def test_tweet_traits_counts_what_the_normaliser_sees():
    texts = ["@bob #happy day :) <3 http://x.co/a", "plain words here", "so sad :-( \U0001F622"]
    traits = tweet_traits(pd.Series(texts))
    assert traits[["mentions", "hashtags", "urls", "emoticons", "emoji"]].values.tolist() == [
        [1, 1, 1, 2, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]
    assert traits["words"].tolist() == [6, 3, 4]


def test_label_budget_sweep_on_clusters_that_are_the_labels():
    labels = pd.Series(np.repeat(["negative", "neutral", "positive"], [100, 60, 240]))
    clusters = labels.map({"negative": 0, "neutral": 1, "positive": 2}).to_numpy()
    sweep = label_budget_sweep(clusters, labels, [0.05, 0.5], seed=42, min_confidence=0.6)
    assert sweep["labelled"].tolist() == [20, 200] and sweep["hidden"].tolist() == [380, 200]
    assert sweep["accuracy"].tolist() == [1.0, 1.0]  # one gold label per cluster: every pseudo-label is right
    mixed = label_budget_sweep(np.zeros(400, dtype=int), labels, [0.5], seed=42, min_confidence=0.6)
    assert mixed["accuracy"].iloc[0] == pytest.approx(0.6, abs=0.01)  # one cluster: everything gets "positive"
    assert mixed["confident"].iloc[0] == 0  # and its share, 0.6 smoothed down, is under min_confidence
    with pytest.raises(TweetopsError, match="between 0 and 1"):
        label_budget_sweep(clusters, labels, [1.0], seed=42, min_confidence=0.6)
