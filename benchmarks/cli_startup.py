"""How long `tweetops --help` takes, side by side with an empty Python and other tools' --help.

Each command runs as a user runs it (a new process, the venv's console scripts, Python free to cache
compiled modules: these machines set PYTHONDONTWRITEBYTECODE, which a user's does not), the commands
interleaved round by round so a busy moment of the shared machine hits them all alike; the figure is
the median wall time. `python -c "import argparse"` is the floor of any argparse command.
Target: `tweetops --help` within 3x `python -c pass` (well under a second).
--baseline REF adds `tweetops --help` as of the commit REF (a git worktree, run with this venv).

    .venv/bin/python benchmarks/cli_startup.py                    # 30 rounds
    .venv/bin/python benchmarks/cli_startup.py --baseline HEAD~1  # a change's effect, in the same run
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, baseline_source, machine, write_results

TARGET_RATIO = 3.0
BIN = Path(sys.executable).parent


def commands(baseline: Path | None, ref: str | None) -> dict[str, tuple[list[str], dict]]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    chosen = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "python -c 'import argparse'": ([sys.executable, "-c", "import argparse"], env),
        "tweetops --help": ([str(BIN / "tweetops"), "--help"], env),
        "tweetops --version": ([str(BIN / "tweetops"), "--version"], env),
        "uvicorn --help": ([str(BIN / "uvicorn"), "--help"], env),
        "streamlit --help": ([str(BIN / "streamlit"), "--help"], env),
    }
    if baseline is not None:  # the same console script, importing the older source tree first
        older = {**env, "PYTHONPATH": str(baseline / "src")}
        chosen[f"tweetops@{ref} --help"] = ([str(BIN / "tweetops"), "--help"], older)
    return {name: spec for name, spec in chosen.items() if Path(spec[0][0]).exists()}


def wall_ms(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--baseline", metavar="REF", help="also time `tweetops --help` at the commit REF")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        baseline = baseline_source(args.baseline, Path(work)) if args.baseline else None
        chosen = commands(baseline, args.baseline)
        for command, env in chosen.values():  # warm the page cache and write .pyc files once, uncounted
            wall_ms(command, env)
        times: dict[str, list[float]] = {name: [] for name in chosen}
        for _ in range(args.rounds):
            for name, (command, env) in chosen.items():
                times[name].append(wall_ms(command, env))
    if args.baseline:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)  # its folder is gone
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["python -c pass"]
    ratios = {name: value / floor for name, value in medians.items()}
    rows = "\n".join(f"| {name} | {medians[name]:.0f} | {min(times[name]):.0f} | {ratios[name]:.2f} |"
                     for name in medians)
    verdict = "met" if ratios["tweetops --help"] <= TARGET_RATIO else "missed"
    info = machine()
    markdown = (f"# CLI start-up: `tweetops --help` against an empty Python and other tools\n\n"
                f"| command | median ms | fastest ms | x `python -c pass` |\n|---|---|---|---|\n{rows}\n\n"
                f"Median of {args.rounds} rounds, the commands interleaved in each round, {info['cpus']} CPUs, "
                f"Python {info['python']}, {info['when']}. Target: `tweetops --help` within {TARGET_RATIO:g}x "
                f"`python -c pass`: {verdict} ({ratios['tweetops --help']:.2f}x).\n\n"
                f"Command: `python benchmarks/cli_startup.py"
                f"{f' --baseline {args.baseline}' if args.baseline else ''}`\n")
    name = "cli_startup" + (f"-vs-{args.baseline}".replace("~", "-").replace("/", "-") if args.baseline else "")
    json_path, md_path = write_results(name, {"machine": info, "rounds": args.rounds, "median_ms": medians,
                                              "ratios": ratios, "target_ratio": TARGET_RATIO}, markdown)
    print(markdown)
    print(f"results: {json_path.relative_to(ROOT)}, {md_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
