"""The README is exactly true: its `make run` sample is what a run prints, every `tweetops` command it shows
parses with today's CLI, every `make` target it names exists, and the test count it quotes is today's."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.repo_copy import ROOT
from tweetops.cli import build_parser

README = (ROOT / "README.md").read_text(encoding="utf-8")
RUN_ID = re.compile(r"\d{8}T\d{6}Z")


def code_blocks(language: str = "") -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, re.M | re.S)


def test_the_make_run_sample_is_what_the_run_prints(trained_project):
    """The session's `tweetops run` on the bundled tweets: the same six stages and publication as `make run`,
    run from another folder (so its paths are absolute) with tracking off (so its registry is the local one,
    whose versions are run ids, where `make run` registers version 1 in MLflow's). All else is the same."""
    sample = README.split("`make run` ends with", 1)[1].split("```\n", 2)[1]
    printed = (trained_project.parent / "trained.stdout").read_text().replace(f"{trained_project}/", "")
    expected = RUN_ID.sub("<run>", sample.replace("(mlflow registry version 1)", "(local registry version <run>)"))
    assert RUN_ID.sub("<run>", printed).endswith(expected), printed


def readme_commands() -> list[list[str]]:
    """Every `tweetops ...` line of the README's bash blocks, as argv (environment assignments and comments off)."""
    commands = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line.split(" #", 1)[0])
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words.pop(0)
            if words and words[0] in (".venv/bin/tweetops", "tweetops"):
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("argv", readme_commands(), ids=" ".join)
def test_every_tweetops_command_in_the_readme_parses(argv):
    build_parser().parse_args(argv)  # an unknown command or flag exits 2 here


def test_every_make_target_the_readme_names_exists():
    phony = set(re.search(r"^\.PHONY: (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split())
    named = set(re.findall(r"`make ([a-z-]+)", README)) | set(re.findall(r"^make ([a-z-]+)", README, re.M))
    assert named and named <= phony, named - phony


def test_the_quoted_count_of_make_checks_tests_is_todays():
    quoted = int(re.search(r"`make check` runs the linters and the (\d+) tests", README).group(1))
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow", "-p",
                                "no:cacheprovider", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    count = re.search(r"(\d+)/\d+ tests collected", collected.stdout)
    assert count, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert int(count.group(1)) == quoted, f"make check runs {count.group(1)} tests; the README says {quoted}"
