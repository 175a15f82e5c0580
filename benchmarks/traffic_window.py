"""`tweetops monitor --input`'s read of a traffic file against pandas, on synthetic tweets in a local CSV.

Three readers, each in its own process on the same file, keep the newest `max_rows` texts:
  tweetops    tweetops.monitoring.traffic.from_file: the rows streamed a chunk at a time, every row's
              text checked (unreadable, blank, a number column) and counted
  whole table the same reader's frame(), every column of every row in one DataFrame (the monitor's read
              before it streamed)
  pandas      pd.read_csv(usecols=[text]).tail(max_rows): what one would write by hand, no checks
Reported: seconds of the read alone (imports excluded), the process's peak RSS (sampled from /proc) and how
much of it the read added (the peak less the RSS once everything was imported).

    .venv/bin/python benchmarks/traffic_window.py --rows 1000000     # ~1 minute on 2 cores
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import ONE_THREAD, footer, machine, median_run, resampled_tweets, run_measured, write_results

READERS = {
    "tweetops": "from tweetops.monitoring.traffic import from_file\n"
                "texts = from_file(PATH, MAX_ROWS).texts",
    "whole table": "from tweetops.io.tables import open_table\n"
                   "texts = [t for t in open_table(Path(PATH), 'csv', PATH).frame()['text'] if isinstance(t, str)]"
                   "[-MAX_ROWS:]",
    "pandas": "import pandas as pd\n"
              "texts = pd.read_csv(PATH, usecols=['text'], dtype=str)['text'].dropna().tail(MAX_ROWS).tolist()",
}
CHILD = """import json, sys, time
from pathlib import Path
PATH, MAX_ROWS = sys.argv[1], int(sys.argv[2])
import pandas, pyarrow, tweetops.monitoring.traffic  # imported before the clock starts, by every reader
before = int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) / 1024
start = time.perf_counter()
{reader}
print(json.dumps({{"seconds": time.perf_counter() - start, "rss_before_mb": before, "texts": len(texts),
                  "last": texts[-1]}}))
"""


def measure(name: str, path: Path, max_rows: int) -> dict:
    run = run_measured([sys.executable, "-c", CHILD.format(reader=READERS[name]), str(path), str(max_rows)],
                       env=ONE_THREAD)
    if run["returncode"] != 0:
        raise SystemExit(f"{name} failed:\n{run['stderr'][-2000:]}")
    child = json.loads(run["stdout"].strip().splitlines()[-1])
    return {"seconds": child["seconds"], "peak_rss_mb": run["peak_rss_mb"],
            "read_mb": run["peak_rss_mb"] - child["rss_before_mb"], "texts": child["texts"], "last": child["last"]}


def render(result: dict) -> str:
    rows = [f"| {name} | {m['seconds']:.2f} | {m['peak_rss_mb']:,.0f} | {m['read_mb']:,.0f} |"
            for name, m in result["median"].items()]
    ratio = result["ratios"]
    return "\n".join([
        f"# The monitor's traffic read ({result['rows']:,} rows, {result['megabytes']:.0f} MB CSV, newest "
        f"{result['max_rows']:,} kept, 1 core each)", "",
        "| reader | seconds | peak RSS MB | MB added by the read |", "|---|---:|---:|---:|", *rows, "",
        f"tweetops against pandas: {ratio['seconds_vs_pandas']:.2f}x the time, {ratio['read_mb_vs_pandas']:.2f}x "
        f"the memory added; against the whole table: {ratio['seconds_vs_whole']:.2f}x the time, "
        f"{ratio['read_mb_vs_whole']:.2f}x the memory added. (The imports alone hold about "
        f"{result['median']['tweetops']['peak_rss_mb'] - result['median']['tweetops']['read_mb']:,.0f} MB.)", "",
        *footer(result, result['repeat'])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-rows", type=int, default=5000, help="monitoring.max_rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reader (the median is reported)")
    parser.add_argument("--name", default="traffic_window", help="results file name")
    args = parser.parse_args()
    runs = {name: [] for name in READERS}
    with tempfile.TemporaryDirectory(prefix="tweetops-bench-traffic-") as folder:
        path = Path(folder) / "traffic.csv"
        frame = resampled_tweets(args.rows)[["id", "text"]]
        frame["created_at"] = "2026-12-04T10:00:00Z"
        frame.to_csv(path, index=False)
        newest = frame["text"].iloc[-1]
        for attempt in range(args.repeat):
            for name in READERS:  # interleaved, so a slow spell of the machine is shared
                run = measure(name, path, args.max_rows)
                assert (run.pop("texts"), run.pop("last")) == (min(args.rows, args.max_rows), newest), name
                print(f"run {attempt + 1} {name}: {run['seconds']:.2f} s, {run['read_mb']:,.0f} MB added", flush=True)
                runs[name].append(run)
        megabytes = path.stat().st_size / 1e6
    median = {name: median_run(named) for name, named in runs.items()}
    ours, pandas, whole = median["tweetops"], median["pandas"], median["whole table"]
    result = {"rows": args.rows, "megabytes": megabytes, "max_rows": args.max_rows, "repeat": args.repeat,
              "runs": runs, "median": median, "machine": machine(),
              "ratios": {"seconds_vs_pandas": ours["seconds"] / pandas["seconds"],
                         "read_mb_vs_pandas": ours["read_mb"] / pandas["read_mb"],
                         "seconds_vs_whole": ours["seconds"] / whole["seconds"],
                         "read_mb_vs_whole": ours["read_mb"] / whole["read_mb"]},
              "command": " ".join(["python benchmarks/traffic_window.py", *sys.argv[1:]])}
    _, md_path = write_results(args.name, result, render(result))
    print(render(result) + f"\n-> {md_path}")


if __name__ == "__main__":
    main()
