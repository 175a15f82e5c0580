"""What the notebooks share: a run to explore, tweet traits, and the label-budget sweep.

A notebook either reads an existing run (its project root, as `run_dir`, else TWEETOPS_NOTEBOOK_RUN)
or, given none, runs the stages it needs into a temporary folder, so it never writes into the repository.
notebooks/conftest.py sets TWEETOPS_NOTEBOOK_RUN to one run shared by every notebook under nbval.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tweetops.errors import TweetopsError
from tweetops.io.files import read_json
# The normaliser's own patterns, so the notebooks count what the model sees as hashtags, mentions and URLs.
from tweetops.model.normalizer import HASHTAG, MENTION, URL
from tweetops.pipeline.clustering import pseudo_label
from tweetops.pipeline.runner import run_stage
from tweetops.pipeline.runs import ORDER, Request
from tweetops.settings import Config, environment, limit_threads, load_config

# Emoticons like :) ;-( <3 and emoji (the normaliser keeps both; hashtags, mentions and URLs use its patterns).
EMOTICON = re.compile(r"(?<!\w)(?:[:;=8xX][-o*']?[()\[\]dDpP/\\|*3]|<3|[()\[\]dD][-o*']?[:;=])(?!\w)")
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
# What each stage leaves behind, so an existing run is checked before a notebook reads it.
OUTPUTS = {"data_preparation": "data/stages/data_preparation.json", "clustering": "data/stages/clustering.json",
           "model_training": "data/stages/model_training.json"}
RUN_ENV = "TWEETOPS_NOTEBOOK_RUN"


def repository_root(start: Path | None = None) -> Path:
    """The nearest folder, from `start` (default: the working directory) upwards, holding params.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    raise TweetopsError(f"no params.yaml in {here} or above; run from inside the repository or pass run_dir.")


def project(run_dir: str | Path | None, until: str, source_root: Path | None = None) -> Config:
    """The config of an existing run at `run_dir`, or of a fresh run of the stages up to `until`
    in a temporary folder (params.yaml and the raw data copied from the repository)."""
    if until not in OUTPUTS:
        raise ValueError(f"until must be one of {sorted(OUTPUTS)}")
    run_dir = run_dir or environment().notebook_run
    if run_dir:
        root = Path(run_dir)
        if not (root / OUTPUTS[until]).exists():
            raise TweetopsError(f"{root} has no {OUTPUTS[until]}; run `tweetops run` there or leave run_dir empty.")
        return load_config(root / "params.yaml", root=root)
    repo = source_root or repository_root()
    root = Path(tempfile.mkdtemp(prefix="tweetops-notebook-"))
    shutil.copy(repo / "params.yaml", root / "params.yaml")
    shutil.copytree(repo / "data" / "raw", root / "data" / "raw")
    # A scratch run to look at: no MLflow run or registry version for it.
    request = Request(root / "params.yaml", {"tracking.enabled": False}, root=root)
    limit_threads()  # as the CLI does: multi-threaded BLAS was measured 6x slower on 2 shared cores
    for stage in ORDER[:ORDER.index(until) + 1]:
        run_stage(stage, request)
    return load_config(root / "params.yaml", root=root, **{"tracking.enabled": False})


def run_bundle(config: Config) -> Path:
    """The bundle folder the project's last run trained (models/<run_id>)."""
    return config.catalog.bundle(read_json(config.catalog.run_record)["run_id"])


def tweet_traits(texts: pd.Series) -> pd.DataFrame:
    """Per tweet: characters, words, and counts of hashtags, mentions, URLs, emoticons and emoji."""
    texts = texts.fillna("").astype(str)
    return pd.DataFrame({
        "chars": texts.str.len(), "words": texts.str.split().str.len(),
        "hashtags": texts.str.count(HASHTAG), "mentions": texts.str.count(MENTION), "urls": texts.str.count(URL),
        "emoticons": texts.str.count(EMOTICON), "emoji": texts.str.count(EMOJI),
    }, index=texts.index)


def label_budget_sweep(clusters: np.ndarray, labels: pd.Series, fractions, seed: int,
                       min_confidence: float) -> pd.DataFrame:
    """Pseudo-label accuracy against the hidden gold labels when only `fraction` of them are kept.

    The clusters do not depend on labels, so one clustering serves every budget; the kept rows are a
    stratified fixed-seed sample, as data_preparation keeps them.
    """
    labels = pd.Series(labels).reset_index(drop=True)
    rows = []
    for fraction in fractions:
        if not 0 < fraction < 1:
            raise TweetopsError(f"a label budget must be between 0 and 1, got {fraction}.")
        kept, _ = train_test_split(labels.index, train_size=fraction, random_state=seed, stratify=labels)
        labeled = labels.index.isin(kept)
        pseudo, confidence = pseudo_label(clusters, labels, labeled)
        hidden, confident = ~labeled, ~labeled & (confidence >= min_confidence)
        rows.append({"budget": fraction, "labelled": int(labeled.sum()), "hidden": int(hidden.sum()),
                     "accuracy": float((pseudo[hidden] == labels[hidden]).mean()),
                     "confident": int(confident.sum()),
                     "confident_accuracy": (float((pseudo[confident] == labels[confident]).mean())
                                            if confident.any() else float("nan"))})
    return pd.DataFrame(rows)
