import pandas as pd
import pytest

from tests.conftest import make_project
from tweetops.errors import TweetopsError
from tweetops.pipeline.runner import run_stage
from tweetops.pipeline.runs import Request


def prepare(project, source=None, **overrides):
    """(the project's catalog, what data_preparation returned), after data_ingestion."""
    request = Request(project / "params.yaml", {**({"data.source": str(source)} if source else {}), **overrides})
    run_stage("data_ingestion", request)
    return request.catalog(), run_stage("data_preparation", request)


def read(catalog, name):
    return pd.read_parquet(catalog.split(name))


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


def test_bundled_data_labels_split_and_counts(project):
    catalog, counts = prepare(project)
    assert counts["labels"] == {"negative": 1062, "neutral": 838, "positive": 2300}
    assert counts["rows_in"] == 4200 == counts["rows_kept"] + counts["rows_quarantined"]
    assert counts["rows_quarantined"] == 0
    train, test = read(catalog, "train"), read(catalog, "test")
    assert (len(train), len(test)) == (3360, 840)
    assert set(train["id"]).isdisjoint(test["id"])
    # Stratified: each label's share in test is within one row of its share overall.
    for label, total in counts["labels"].items():
        assert abs((test["label"] == label).sum() - total * 0.2) <= 1
    assert train["labeled"].all()
    # Labels follow the thresholds: below -0.5 negative, above 0.5 positive.
    both = pd.concat([train, test])
    assert (both.loc[both["rating"] < -0.5, "label"] == "negative").all()
    assert (both.loc[both["rating"] > 0.5, "label"] == "positive").all()
    assert (both.loc[both["rating"].between(-0.5, 0.5), "label"] == "neutral").all()


def test_the_label_budget_hides_gold_labels_stratified(project):
    catalog, counts = prepare(project, **{"split.labeled_fraction": 0.25})
    train = read(catalog, "train")
    assert counts["train_labeled"] == 840 and counts["train_unlabeled"] == 2520
    assert train["label"].notna().all()  # hidden, not deleted: pseudo-label accuracy is measured on it
    shares = train[train["labeled"]]["label"].value_counts(normalize=True)
    overall = train["label"].value_counts(normalize=True)
    assert (shares - overall).abs().max() < 0.01


def test_bad_rows_are_quarantined_with_a_reason_and_nothing_is_lost(project):
    good = [f"{i}\t{(i % 9) - 4}.0\tgood tweet number {i}" for i in range(1, 61)]
    bad = ["100\t1.5\t   ",              # empty text
           "101\tabc\tnot a number",      # rating not numeric
           "102\t7.5\tout of range",      # rating out of range
           "5\t1.0\tanother text, same id",  # duplicate id
           "103\t1.0\tgood tweet number 7",  # duplicate text
           "104\tonly two fields"]
    content = ("\r\n".join(good + bad)).encode() + b"\r\n105\t1.0\tcaf\xe9"
    (project / "mixed.tsv").write_bytes(content)
    catalog, counts = prepare(project, project / "mixed.tsv")
    quarantine = read(catalog, "quarantine").set_index("id")
    assert counts["rows_in"] == 67 and counts["rows_kept"] == 60 and counts["rows_quarantined"] == 7
    assert len(read(catalog, "train")) + len(read(catalog, "test")) == 60
    assert quarantine.loc["100", "reason"] == "text is empty"
    assert quarantine.loc["101", "reason"] == "rating is not a number: abc"
    assert quarantine.loc["102", "reason"] == "rating is outside [-4, 4]: 7.5"
    assert quarantine.loc["5", "reason"] == "duplicate id: same as the row at line 5"
    assert quarantine.loc["103", "reason"] == "duplicate text: same as the row at line 7"
    assert quarantine.loc["104", "reason"].startswith("wrong number of fields")
    assert quarantine.loc["105", "reason"] == "line is not valid UTF-8"
    assert counts["quarantine_reasons"]["duplicate id"] == 1


def test_rows_without_a_rating_are_kept_as_unlabelled_training_rows(project, raw_path):
    lines = raw_path.read_text().splitlines()[:300]
    rows = [line.split("\t", 2) for line in lines]
    frame = pd.DataFrame(rows, columns=["id", "rating", "text"])
    frame.loc[:9, "rating"] = None
    frame.to_json(project / "partial.jsonl", orient="records", lines=True)
    catalog, counts = prepare(project, project / "partial.jsonl")
    train = read(catalog, "train")
    assert counts["unrated"] == 10 and counts["rows_quarantined"] == 0
    assert (train["label"].isna() == ~train["labeled"]).all() and (~train["labeled"]).sum() == 10


def test_too_few_rows_per_label_is_a_clear_error(project):
    (project / "tiny.tsv").write_text("1\t2.0\tgreat\n2\t2.5\tsuper\n3\t-2\tawful\n")
    with pytest.raises(TweetopsError, match="need at least 2 rated rows of each label"):
        prepare(project, project / "tiny.tsv")


def test_running_out_of_order_says_which_stage_comes_first(project):
    with pytest.raises(TweetopsError, match="no run has been started here; run the data_ingestion stage first"):
        run_stage("data_preparation", Request(project / "params.yaml"))
