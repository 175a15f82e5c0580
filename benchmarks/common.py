"""Helpers shared by the benchmarks: synthetic tweets, peak memory, medians, result files.

Kept small and generic on purpose; each benchmark keeps its own measuring logic.
"""
from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "tweets_GroundTruth.txt"
RESULTS = ROOT / "benchmarks" / "results"
# Benchmarks measure one core per process, as the servers and batch jobs run.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TWEETOPS_THREADS": "1"}


def bundled_tweets() -> pd.DataFrame:
    return pd.read_csv(RAW, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)


def resampled_tweets(n: int, seed: int = 0) -> pd.DataFrame:
    """n synthetic tweets: a real tweet (with its rating) plus 1-3 words of another, so texts stay distinct
    while the vocabulary stays that of real tweets."""
    tweets = bundled_tweets()
    rng = np.random.default_rng(seed)
    base = tweets.iloc[rng.integers(0, len(tweets), n)].reset_index(drop=True)
    words = [t.split() for t in tweets["text"]]
    donors = rng.integers(0, len(tweets), n)
    counts = rng.integers(1, 4, n)
    extra = [" ".join(words[d][:c]) for d, c in zip(donors, counts)]
    return pd.DataFrame({"id": np.arange(1, n + 1), "rating": base["rating"],
                         "text": base["text"].str.cat(extra, sep=" ")})


def run_measured(command: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run a command to the end: its wall seconds, peak RSS of its process tree, exit code, stdout and stderr.

    Peak RSS is sampled from /proc, not taken from os.wait4: on Linux a child's ru_maxrss starts at
    its parent's high-water mark (measured: /bin/true from an 800 MB parent reports 901 MB).
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout, process.kill) if timeout else None
    if timer:
        timer.start()
    try:
        with PeakRss(process.pid) as rss:
            stdout, stderr = _drain(process)
            returncode = process.wait()
    finally:
        if timer:
            timer.cancel()
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": rss.peak_mb, "returncode": returncode,
            "stdout": stdout, "stderr": stderr}


def _drain(process) -> tuple[str, str]:
    """Read both pipes to EOF at once (one after the other could deadlock on a full pipe)."""
    chunks = {"out": [], "err": []}
    readers = [threading.Thread(target=lambda k, s: chunks[k].append(s.read()), args=(k, s))
               for k, s in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tree(pid: int):
    """A process and all its descendants, as /proc folders (Linux); a process that ended meanwhile is skipped."""
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    stack.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
        yield f"/proc/{current}"


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants now."""
    total = 0
    for folder in _tree(pid):
        try:
            with open(f"{folder}/status") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and all its descendants have used so far."""
    ticks = 0
    for folder in _tree(pid):
        try:
            with open(f"{folder}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float = 120.0, window: float = 0.3, busy: float = 0.1) -> None:
    """Return once a process tree uses under `busy` of a core over `window` seconds: a server still working
    through requests its last load queued (a batch of 100 encoder texts takes ~0.4 s) would otherwise eat
    into the next load's cores and latencies, whichever server that load is measuring."""
    deadline, used = time.monotonic() + timeout, tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = tree_cpu_seconds(pid)
        if now - used < busy * window:
            return
        used = now
    raise SystemExit(f"process {pid} stayed busy for {timeout:.0f} s after its load ended")


class PeakRss:
    """Sample a process tree's RSS in a thread while the block runs; `.peak_mb` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


def median_run(runs: list[dict]) -> dict:
    """The per-key median of a list of runs with the same numeric keys."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def footer(result: dict, runs: int) -> list[str]:
    """A results table's last lines: how many runs, on what machine, when, and the command that made it."""
    return [f"Median of {runs} run(s); {result['machine']['cpus']} CPUs; {result['machine']['when']}.",
            f"Command: `{result['command']}`", ""]


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    """benchmarks/results/<name>.json and .md (each written to a temporary name, then renamed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    paths = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    for path, text in zip(paths, (json.dumps(payload, indent=2) + "\n", markdown)):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return paths


def baseline_source(ref: str, work: Path) -> Path:
    """A checkout of `ref` (a detached git worktree under `work`, removed with it; `git worktree prune` after)."""
    folder = work / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), ref], check=True,
                   capture_output=True)
    return folder
