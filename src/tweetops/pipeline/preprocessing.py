"""Stage 3: tweet normalisation with the model's own TweetNormalizer (tweetops.model.normalizer), the
transformer the served model runs first, so training and serving read text the same way.

Reads data/processed/{train,test}.parquet and writes {train,test}_clean.parquet with `text_clean`.
"""
from __future__ import annotations

import logging

import pandas as pd

from tweetops.errors import TweetopsError
from tweetops.io.files import write_parquet
from tweetops.model.normalizer import normalizer_from
from tweetops.pipeline.options import stage_main
from tweetops.pipeline.runs import Run

log = logging.getLogger("tweetops.preprocessing")


def stage(run: Run) -> dict:
    normalizer = normalizer_from(run.params.preprocessing)
    counts = {}
    for part in ("train", "test"):
        source = run.catalog.split(part)
        if not source.exists():
            raise TweetopsError(f"{source} not found; run the data_preparation stage first.")
        frame = pd.read_parquet(source)
        frame["text_clean"] = normalizer.transform(frame["text"])
        changed = int((frame["text_clean"] != frame["text"]).sum())
        write_parquet(run.catalog.clean(part), frame)
        counts[part] = len(frame)
        counts[f"{part}_changed"] = changed
        log.info("normalised %s %s rows (%s changed)", f"{len(frame):,}", part, f"{changed:,}")
    return counts


def main(argv=None) -> int:
    return stage_main("preprocessing", stage, argv)


if __name__ == "__main__":
    raise SystemExit(main())
