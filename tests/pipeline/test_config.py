import re

import pytest

from tests.conftest import ROOT
from tweetops.errors import TweetopsError
from tweetops.settings import environment, load_config, load_params


def write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_bundled_params_load_with_their_documented_defaults(raw_path):
    params = load_params(raw_path.parents[2] / "params.yaml")
    assert params.data.source == "data/raw/tweets_GroundTruth.txt"
    assert (params.labels.negative_below, params.labels.positive_above) == (-0.5, 0.5)
    assert params.split.labeled_fraction == 1.0


def test_unknown_key_is_an_error_that_names_it(tmp_path):
    path = write(tmp_path, "data:\n  source: x.tsv\n  sorce: y\n")
    with pytest.raises(TweetopsError, match=r"unknown key data\.sorce"):
        load_params(path)


@pytest.mark.parametrize("text, message", [
    ("data:\n  source: x.tsv\nsplit:\n  seed: 1.5\n", r"split\.seed must be an integer"),
    ("data:\n  source: x.tsv\nsplit:\n  test_size: high\n", r"split\.test_size must be a number"),
    ("data:\n  source: x.tsv\nfeatures:\n  lexicon: 1\n", r"features\.lexicon must be true or false"),
    ("data:\n  source: x.tsv\nsplit:\n  labeled_fraction: 0\n", r"labeled_fraction must be in \(0, 1\]"),
    ("data: {}\n", r"data\.source is required"),
    ("data: [1\n", r"not valid YAML"),
])
def test_wrong_types_and_values_are_clear_errors(tmp_path, text, message):
    with pytest.raises(TweetopsError, match=message):
        load_params(write(tmp_path, text))


def test_missing_params_file_says_what_to_do(tmp_path):
    with pytest.raises(TweetopsError, match="not found; run from the project root"):
        load_params(tmp_path / "nope.yaml")


def test_overrides_and_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "data:\n  source: a.tsv\n")
    assert load_params(path, **{"split.labeled_fraction": 0.25}).split.labeled_fraction == 0.25
    monkeypatch.setenv("TWEETOPS_SOURCE", "s3://bucket/tweets.tsv")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    config = load_config(path)
    assert config.params.data.source == "s3://bucket/tweets.tsv"
    assert config.params.data.s3_endpoint_url == "http://127.0.0.1:9"
    assert config.root == tmp_path
    # An explicit --source beats the environment.
    assert load_params(path, **{"data.source": "b.csv"}).data.source == "b.csv"


@pytest.mark.parametrize("key, value, message", [
    ("training.C", -1.0, "training.C must be positive"),
    ("training.C", float("nan"), "training.C must be a finite number, got nan"),
    ("training.max_iter", 0, "training.max_iter must be at least 1"),
    ("features.char_ngram_min", 9, "features.char_ngram_min must be at least 1 and at most features.char_ngram_max"),
    ("features.max_features", 0, "features.max_features must be at least 1"),
    ("data.timeout_seconds", -5.0, "data.timeout_seconds must be positive"),
    ("clustering.fit_sample_rows", 3, "clustering.fit_sample_rows must be at least clustering.n_clusters"),
])
def test_impossible_values_are_refused_before_any_stage_runs(key, value, message):
    with pytest.raises(TweetopsError, match=re.escape(f"params: {message}")):
        load_params(ROOT / "params.yaml", **{key: value})


def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path):
    with pytest.raises(TweetopsError) as refused:
        load_params(write(tmp_path, "data:\n  source: [1\n"))
    assert "\n" not in str(refused.value) and "is not valid YAML at line 3, column 1" in str(refused.value)


@pytest.mark.parametrize("name, value, message", [
    ("PORT", "70000", "PORT must be at most 65535, got '70000'."),
    ("PORT", "http", "PORT must be a whole number, got 'http'."),
    ("TWEETOPS_MAX_CHARS", "0", "TWEETOPS_MAX_CHARS must be at least 1, got '0'."),
    ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be at least 1, got '0'."),
    ("LOG_LEVEL", "loud", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'."),
    ("TWEETOPS_PIN_WORKERS", "sometimes", "TWEETOPS_PIN_WORKERS must be on or off, got 'sometimes'."),
])
def test_a_bad_environment_variable_is_one_sentence_naming_it(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(TweetopsError) as refused:
        environment()
    assert str(refused.value) == message
