"""The words the UI uses for what the API reports: versions, status, comparisons and the model card's parts."""
from __future__ import annotations

import pytest

from ui.wording import comparison_sentences, split_card, status_label, version_label


@pytest.mark.parametrize("run_id, label", [("20261201T222643Z", "1 Dec 2026, 22:26 UTC"),
                                           ("20270115T090005Z", "15 Jan 2027, 09:00 UTC"),
                                           ("try-1", "try-1"), ("20261201", "20261201")])
def test_a_run_id_that_is_a_time_reads_as_one(run_id, label):
    assert version_label(run_id) == label


def test_status_names_the_champion_a_candidate_or_says_it_is_not_known():
    assert [status_label(c) for c in (True, False, None)] == ["in production (champion)", "candidate", "not known here"]


def _scores(macro_f1: float, **per_class) -> dict:
    return {"macro_f1": macro_f1, "per_class": {label: {"recall": recall} for label, recall in per_class.items()}}


def test_each_comparison_is_one_sentence_and_equal_scores_say_why():
    manifest = {"metrics": {"macro_f1": 0.7611}, "ablation": {"used": False},
                "baselines": {"majority_class": _scores(0.2359, negative=0.0, neutral=0.0, positive=1.0),
                              "supervised_only": _scores(0.7611), "vader_compound": _scores(0.6913)}}
    assert comparison_sentences(manifest) == [
        "Always the most common label (here: positive), what you get without reading the tweet at all: scores "
        "0.236; this model is 0.525 higher.",
        "The same model without pseudo-labels, trained only on the tweets people labelled, to show what the tweets "
        "labelled automatically (pseudo-labels) add: scores 0.761, the same as this model: no unlabelled tweet was "
        "confident enough to be pseudo-labelled, so the two are one model and their bars are equal.",
        "The lexicon rule VADER, a fixed list of word scores written by people, with no training on these tweets: "
        "scores 0.691; this model is 0.070 higher."]
    manifest["ablation"]["used"] = True
    manifest["baselines"]["supervised_only"] = _scores(0.7700)
    assert comparison_sentences(manifest)[1].endswith("add: scores 0.770; this model is 0.009 lower.")


def test_the_cards_hashes_paths_and_versions_are_split_from_what_anyone_reads(trained_bundle):
    card = (trained_bundle / "model_card.md").read_text()
    plain, technical = split_card(card)
    assert "sha256" not in plain and "`data/raw/" not in plain and "## Versions" not in plain
    assert "## Intended use" in plain and "- dataset: Tweets with crowd sentiment ratings" in plain
    assert technical.startswith("## Training data\n- source: `data/raw/tweets_GroundTruth.txt`")
    assert "## Versions" in technical and "git commit" in technical
    kept = {line for line in plain.splitlines() + technical.splitlines() if line.strip()}
    assert kept == {line for line in card.splitlines() if line.strip()}  # every line, in one part or the other
