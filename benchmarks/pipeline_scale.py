"""Pipeline cost at scale: wall time and peak memory of each stage on 10k, 100k and 1M tweets.

The data are made by resampling the bundled tweets: each synthetic tweet is a real tweet (with
its rating) plus one to three words of another real tweet, so texts stay distinct (the
preparation stage would quarantine exact duplicates) while the vocabulary stays that of real
tweets. Each stage runs as its own process, as in the retrain workflow; its peak RSS is sampled
from /proc (benchmarks/common.py says why not os.wait4).

    .venv/bin/python benchmarks/pipeline_scale.py --sizes 10000 100000 1000000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import resampled_tweets, run_measured

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering",
          "model_training")


def run_stage(stage: str, project: Path) -> dict:
    env = {"TWEETOPS_HOME": str(project), "TWEETOPS_RUN_ID": f"scale-{project.name}"}
    result = run_measured([sys.executable, "-m", f"tweetops.{stage}", "--params", str(project / "params.yaml")],
                          env=env)
    if result["returncode"] != 0:
        raise SystemExit(f"stage {stage} failed on {project.name}:\n{result['stderr'][-2000:]}")
    return {"seconds": round(result["seconds"], 2), "peak_rss_mb": round(result["peak_rss_mb"], 1)}


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
