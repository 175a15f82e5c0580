"""batch-predict at scale against the in-process floor, on synthetic tweets in a local Parquet file.

The floor is the same bundle's predict_proba on the same texts in the same chunks, in one process
with nothing else to do. batch-predict runs as the command a batch job runs (one process, reading,
validating, predicting and writing Parquet); its peak RSS is sampled from /proc. Both use one core.
Targets: texts/s at least 0.8 of the floor, peak RSS under 1 GB.

    .venv/bin/python benchmarks/batch_predict.py --rows 1000000      # ~10 minutes on 2 cores
    .venv/bin/python benchmarks/batch_predict.py --rows 20000        # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import ONE_THREAD, ROOT, footer, machine, median_run, resampled_tweets, run_measured, write_results

os.environ.update(ONE_THREAD)  # before numpy/scikit-learn load their thread pools in this process

TARGET_RATIO, TARGET_RSS_MB = 0.8, 1024


def floor(model: str, source: Path, chunk_size: int) -> float:
    """Texts/s of predict_proba alone over the file's texts, chunk by chunk, in this process."""
    import pyarrow.parquet as pq

    from tweetops.serving.inference import load_predictor

    predictor = load_predictor(model)
    texts = pq.read_table(source, columns=["text"]).column("text").to_pylist()
    start = time.perf_counter()
    for i in range(0, len(texts), chunk_size):
        predictor.predict_proba(texts[i:i + chunk_size])
    return len(texts) / (time.perf_counter() - start)


def batch_predict(model: str, source: Path, output: Path, chunk_size: int, rows: int) -> dict:
    command = [sys.executable, "-m", "tweetops", "batch-predict", "--input", str(source), "--output", str(output),
               "--chunk-size", str(chunk_size), "--model", model, "--log-level", "WARNING"]
    run = run_measured(command, env=ONE_THREAD)
    if run["returncode"] != 0:
        raise SystemExit(f"batch-predict failed:\n{run['stderr'][-2000:]}")
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    assert summary["rows_out"] == rows, summary
    return {"wall_texts_per_second": rows / run["seconds"], "loop_texts_per_second": summary["texts_per_second"],
            "peak_rss_mb": run["peak_rss_mb"]}


def render(result: dict) -> str:
    m = result["median"]
    return "\n".join([
        f"# batch-predict vs the in-process floor ({result['rows']:,} rows, local Parquet, 1 core each)", "",
        "| measure | value | target |", "|---|---|---|",
        f"| floor: predict_proba texts/s | {m['floor_texts_per_second']:,.0f} | |",
        f"| batch-predict texts/s, whole command | {m['wall_texts_per_second']:,.0f} | |",
        f"| batch-predict texts/s, read-predict-write loop | {m['loop_texts_per_second']:,.0f} | |",
        f"| ratio to floor, whole command | {m['ratio_wall']:.3f} | >= {TARGET_RATIO} |",
        f"| ratio to floor, loop | {m['ratio_loop']:.3f} | >= {TARGET_RATIO} |",
        f"| batch-predict peak RSS | {m['peak_rss_mb']:,.0f} MB | < {TARGET_RSS_MB} MB |", "",
        *footer(result, len(result['runs']))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--row-group-size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs (the median is reported)")
    parser.add_argument("--model", default=str(ROOT / "models" / "champion"))
    parser.add_argument("--name", default="batch_predict", help="results file name (batch_predict-encoder, ...)")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="tweetops-bench-batch-") as folder:
        source = Path(folder) / "tweets.parquet"
        resampled_tweets(args.rows)[["id", "text"]].to_parquet(source, index=False, row_group_size=args.row_group_size)
        for attempt in range(args.repeat):
            run = batch_predict(args.model, source, Path(folder) / "predicted.parquet", args.chunk_size, args.rows)
            run["floor_texts_per_second"] = floor(args.model, source, args.chunk_size)
            run["ratio_wall"] = run["wall_texts_per_second"] / run["floor_texts_per_second"]
            run["ratio_loop"] = run["loop_texts_per_second"] / run["floor_texts_per_second"]
            print(f"run {attempt + 1}: " + ", ".join(f"{k} {v:,.3f}" for k, v in run.items()), flush=True)
            runs.append(run)
    result = {"rows": args.rows, "chunk_size": args.chunk_size, "row_group_size": args.row_group_size,
              "runs": runs, "median": median_run(runs), "machine": machine(),
              "command": " ".join(["python benchmarks/batch_predict.py", *sys.argv[1:]]),
              "targets": {"ratio": TARGET_RATIO, "peak_rss_mb": TARGET_RSS_MB}}
    json_path, md_path = write_results(args.name, result, render(result))
    m = result["median"]
    print(f"ratio to floor {m['ratio_wall']:.3f} (loop {m['ratio_loop']:.3f}), peak RSS {m['peak_rss_mb']:.0f} MB"
          f" -> {md_path}")


if __name__ == "__main__":
    main()
