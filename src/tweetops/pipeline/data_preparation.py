"""Stage 2: validate, de-duplicate, label, split, and mark the label budget.

Reads data/interim/ingested.parquet. Writes data/processed/{train,test,quarantine}.parquet and
preparation.json. Every input row ends in exactly one of train, test or quarantine (with a
reason), and the counts prove it: rows in = rows kept + rows quarantined.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tweetops.errors import TweetopsError
from tweetops.io.files import write_json, write_parquet
from tweetops.model import LABELS
from tweetops.model.normalizer import BLANK, NUMBER_ONLY
from tweetops.pipeline.data_ingestion import HISTORY_ID_PREFIX
from tweetops.pipeline.options import stage_main
from tweetops.pipeline.runs import Run
from tweetops.settings import LabelParams, SplitParams

log = logging.getLogger("tweetops.data_preparation")


def label_from_rating(rating: pd.Series, params: LabelParams) -> pd.Series:
    """negative / neutral / positive from the mean rating, with the thresholds in params."""
    labels = np.where(rating < params.negative_below, LABELS[0],
                      np.where(rating > params.positive_above, LABELS[2], LABELS[1]))
    return pd.Series(labels, index=rating.index, dtype="string").where(rating.notna())


def validate(frame: pd.DataFrame, params: LabelParams) -> pd.DataFrame:
    """Add `rating_value` (float or NaN when unrated) and `reason` (why a row is quarantined)."""
    frame = frame.copy()
    reason = frame["ingest_error"].astype("object")
    text = frame["text"].fillna("")
    reason = reason.where(reason.notna(), np.where(text.str.strip(BLANK) == "", "text is empty", None))
    # What the API refuses, training does not learn from (nor keep in the bundle's drift reference).
    reason = reason.where(reason.notna(), np.where(text.str.contains("\x00", regex=False),
                                                   "text has a NUL character (U+0000)", None))
    reason = reason.where(reason.notna(), np.where(text.str.contains("\ufffd", regex=False),
                                                   "text is not valid UTF-8", None))
    reason = reason.where(reason.notna(), np.where(text.str.fullmatch(NUMBER_ONLY.pattern),
                                                   "text is a number, not words (are the columns swapped?)", None))
    raw = frame["rating"].str.strip()
    value = pd.to_numeric(raw, errors="coerce")
    not_number = raw.notna() & (raw != "") & value.isna()
    reason = reason.where(reason.notna(), np.where(not_number, "rating is not a number: " + raw.fillna(""), None))
    out_of_range = value.notna() & ((value < params.rating_min) | (value > params.rating_max))
    reason = reason.where(
        reason.notna(),
        np.where(out_of_range, f"rating is outside [{params.rating_min:g}, {params.rating_max:g}]: " + raw.fillna(""),
                 None),
    )
    reason = reason.where(reason.notna(), np.where(~np.isfinite(value.fillna(0.0)), "rating is not finite", None))
    frame["rating_value"] = value.where(np.isfinite(value.fillna(0.0))).astype("float64")
    frame["reason"] = pd.Series(reason, index=frame.index, dtype="string")
    return frame


def mark_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Quarantine every later copy of an id or of an exact text; the first one stays."""
    frame = frame.copy()
    for column in ("id", "text"):
        valid = frame.loc[frame["reason"].isna(), [column, "source_row"]]
        first = valid.groupby(column, sort=False)["source_row"].transform("first")
        later = valid.index[valid[column].duplicated(keep="first")]
        frame.loc[later, "reason"] = f"duplicate {column}: same as the row at line " + first[later].astype(str)
    return frame


def split(kept: pd.DataFrame, sp: SplitParams, why: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split of the rated rows; unrated rows join train as unlabelled.
    `why` is added to the error when there are too few rows (what quarantine took)."""
    rated, unrated = kept[kept["label"].notna()], kept[kept["label"].isna()]
    if rated["label"].nunique() < len(LABELS) or rated["label"].value_counts().min() < 2:
        counts = rated["label"].value_counts().to_dict()
        raise TweetopsError(f"need at least 2 rated rows of each label to split, found {counts}{why}.")
    try:
        train, test = train_test_split(rated, test_size=sp.test_size, random_state=sp.seed, stratify=rated["label"])
    except ValueError:  # too few rows for a test (or training) row of each label
        raise TweetopsError(f"{len(rated):,} rated rows are too few for split.test_size {sp.test_size:g} to hold out "
                            f"a test row of each label and keep one to train on{why}; add rated rows.") from None
    train = train.copy()
    train["labeled"] = True
    if sp.labeled_fraction < 1.0:
        try:
            hidden, _ = train_test_split(train.index, train_size=1 - sp.labeled_fraction,
                                         random_state=sp.seed, stratify=train["label"])
        except ValueError:
            raise TweetopsError(f"split.labeled_fraction {sp.labeled_fraction:g} of {len(train):,} training rows "
                                "keeps fewer than one labelled row of each label; raise it.") from None
        train.loc[hidden, "labeled"] = False
    unrated = unrated.assign(labeled=False)
    train = pd.concat([train, unrated]).sort_values("source_row")
    return train, test.sort_values("source_row").assign(labeled=True)


def history_counts(frame: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Where the prediction-history rows went: unlabelled train rows or quarantine, never test."""
    def ours(rows: pd.DataFrame) -> pd.Series:  # history rows are unrated: a rated "history-7" is the user's own
        return rows["id"].astype("string").str.startswith(HISTORY_ID_PREFIX).fillna(False) & rows["rating_value"].isna()

    mine = frame[ours(frame)]
    quarantined = mine[mine["reason"].notna()]
    counts = {"rows_in": len(mine), "train_unlabeled": int(ours(train).sum()),
              "rows_quarantined": len(quarantined), "test": int(ours(test).sum()),
              "quarantine_reasons": quarantined["reason"].str.split(":").str[0].value_counts().to_dict()}
    assert counts["test"] == 0 and counts["rows_in"] == counts["train_unlabeled"] + counts["rows_quarantined"]
    return counts


def stage(run: Run) -> dict:
    catalog = run.catalog
    if not catalog.ingested.exists():
        raise TweetopsError(f"{catalog.ingested} not found; run the data_ingestion stage first.")
    ingested = pd.read_parquet(catalog.ingested)
    frame = mark_duplicates(validate(ingested, run.params.labels))
    quarantine = frame[frame["reason"].notna()]
    kept = frame[frame["reason"].isna()].drop(columns=["reason", "ingest_error"])
    kept = kept.assign(label=label_from_rating(kept["rating_value"], run.params.labels))
    # The part of each reason before ":" names its kind; the rest is the row's detail.
    reasons = quarantine["reason"].str.split(":").str[0].value_counts()
    why = (f"; {len(quarantine):,} of {len(frame):,} rows were quarantined, {reasons.iloc[0]:,} of them because "
           f"{reasons.index[0]}" if len(quarantine) else "")
    train, test = split(kept, run.params.split, why)

    columns = ["id", "text", "rating_value", "label", "labeled", "source_row"]
    write_parquet(catalog.split("train"), train[columns].rename(columns={"rating_value": "rating"}))
    write_parquet(catalog.split("test"), test[columns].rename(columns={"rating_value": "rating"}))
    write_parquet(catalog.split("quarantine"),
                  quarantine[["source_row", "id", "rating", "text", "reason"]])
    counts = {
        "run_id": run.run_id,
        "rows_in": len(ingested),
        "rows_kept": len(kept),
        "rows_quarantined": len(quarantine),
        "quarantine_reasons": reasons.to_dict(),
        "train": len(train),
        "train_labeled": int(train["labeled"].sum()),
        "train_unlabeled": int((~train["labeled"]).sum()),
        "test": len(test),
        "labels": kept["label"].value_counts().reindex(LABELS, fill_value=0).astype(int).to_dict(),
        "unrated": int(kept["label"].isna().sum()),
    }
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    counts["history"] = history_counts(frame, train, test)
    write_json(catalog.preparation_record, counts)
    log.info("%s rows in = %s kept + %s quarantined; train %s (%s labelled), test %s; labels %s",
             counts["rows_in"], counts["rows_kept"], counts["rows_quarantined"], counts["train"],
             counts["train_labeled"], counts["test"], counts["labels"])
    return counts


def main(argv=None) -> int:
    return stage_main("data_preparation", stage, argv)


if __name__ == "__main__":
    raise SystemExit(main())
