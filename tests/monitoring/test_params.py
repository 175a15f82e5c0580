"""The monitoring and history_ingestion sections of params.yaml are validated like the others."""
from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tweetops.settings import load_params
from tweetops.errors import TweetopsError


def test_the_defaults_keep_history_ingestion_off():
    params = load_params(ROOT / "params.yaml")
    assert params.history_ingestion.enabled is False
    assert params.monitoring.min_samples <= params.monitoring.max_rows


@pytest.mark.parametrize("key, value, message", [
    ("monitoring.domain_auc", 1.5, "monitoring.domain_auc must be in [0.5, 1)"),
    ("monitoring.min_samples", 3, "monitoring.min_samples must be at least 10"),
    ("monitoring.max_rows", 50, "monitoring.max_rows must be at least monitoring.min_samples"),
    ("monitoring.chi2_p", "small", "monitoring.chi2_p must be a number"),
    ("monitoring.no_such_check", 1, "unknown key monitoring.no_such_check"),
    ("history_ingestion.enabled", "yes", "history_ingestion.enabled must be true or false"),
    ("history_ingestion.max_rows", 0, "history_ingestion.max_rows must be at least 1"),
])
def test_bad_values_are_one_clear_error(key, value, message):
    with pytest.raises(TweetopsError, match=re.escape(message)):
        load_params(ROOT / "params.yaml", **{key: value})
