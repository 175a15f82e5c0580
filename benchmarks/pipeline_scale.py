"""Pipeline cost at scale: wall time and peak memory of each stage on 10k, 100k and 1M tweets.

The data are made by resampling the bundled tweets: each synthetic tweet is a real tweet (with
its rating) plus one to three words of another real tweet, so texts stay distinct (the
preparation stage would quarantine exact duplicates) while the vocabulary stays that of real
tweets. Each stage runs as its own process, as in the retrain workflow, and os.wait4 gives that
process's own peak RSS.

    .venv/bin/python benchmarks/pipeline_scale.py --sizes 10000 100000 1000000
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "tweets_GroundTruth.txt"
STAGES = ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering",
          "model_training")


def resampled_tweets(n: int, seed: int = 0) -> pd.DataFrame:
    tweets = pd.read_csv(RAW, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    rng = np.random.default_rng(seed)
    base = tweets.iloc[rng.integers(0, len(tweets), n)].reset_index(drop=True)
    words = [t.split() for t in tweets["text"]]
    donors = rng.integers(0, len(tweets), n)
    counts = rng.integers(1, 4, n)
    extra = [" ".join(words[d][:c]) for d, c in zip(donors, counts)]
    return pd.DataFrame({"id": np.arange(1, n + 1), "rating": base["rating"],
                         "text": base["text"].str.cat(extra, sep=" ")})


def run_stage(stage: str, project: Path) -> dict:
    env = {**os.environ, "TWEETOPS_HOME": str(project), "TWEETOPS_RUN_ID": f"scale-{project.name}"}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", f"tweetops.{stage}", "--params", str(project / "params.yaml")],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed on {project.name}:\n{process.stderr.read().decode()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def measure(n: int, workdir: Path) -> dict:
    project = workdir / f"n{n}"
    (project / "data").mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    source = project / "data" / "tweets.parquet"
    resampled_tweets(n).to_parquet(source, index=False)
    os.environ["TWEETOPS_SOURCE"] = str(source)
    stages = {stage: run_stage(stage, project) for stage in STAGES}
    metrics = json.loads((project / "reports" / f"scale-{project.name}" / "metrics.json").read_text())
    return {"rows": n, "stages": stages, "total_seconds": round(sum(s["seconds"] for s in stages.values()), 2),
            "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
            "macro_f1": round(metrics["metrics"]["macro_f1"], 4)}


def render(results: list[dict]) -> str:
    head = "| rows | " + " | ".join(STAGES) + " | total s | peak RSS MB | s per 100k rows |"
    lines = [head, "|---:|" + "---:|" * (len(STAGES) + 3)]
    for r in results:
        cells = [f"{r['stages'][s]['seconds']:.1f} s / {r['stages'][s]['peak_rss_mb']:.0f} MB" for s in STAGES]
        lines.append(f"| {r['rows']:,} | " + " | ".join(cells)
                     + f" | {r['total_seconds']:.1f} | {r['peak_rss_mb']:.0f}"
                     + f" | {r['total_seconds'] / r['rows'] * 1e5:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pipeline_scale"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tweetops-scale-") as tmp:
        for n in args.sizes:
            results.append(measure(n, Path(tmp)))
            print(render(results[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(results) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
