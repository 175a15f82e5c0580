"""The architecture document and its diagram: the diagram renders, and every command, environment
variable, make target and repository path ARQUITECTURA_NUBE.md names exists in this project."""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from tweetops.cli import build_parser
from tweetops.entrypoint import USAGE

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARQUITECTURA_NUBE.md"
SCRIPT = ROOT / "mlops_architecture.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Set by AWS Batch, SageMaker or GitHub rather than read by name in this project's code.
PLATFORM_VARIABLES = {
    "AWS_BATCH_JOB_ID", "AWS_BATCH_JOB_ATTEMPT", "AWS_BATCH_CE_NAME", "AWS_BATCH_JQ_NAME",
    "AWS_REGION", "AWS_DEFAULT_REGION", "SM_CHANNEL_TRAINING", "SM_CHANNEL_TRAIN", "SM_CURRENT_HOST",
    "SM_HOSTS", "SM_NUM_CPUS", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR", "TRAINING_JOB_NAME",
    "GITHUB_RUN_ID", "GITHUB_SHA",
}
SOURCE_FOLDERS = ("src", "api", "ui", ".github")
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{3,}")
# First folders of paths that belong to the repository (generated ones such as models/ are left out).
REPO_FOLDERS = {"src", "api", "tests", "scripts", "infra", "docs", "benchmarks", "docker", "data", ".github",
                "notebooks"}
TOP_LEVEL_FILE = re.compile(r"[\w.-]+\.(py|md|txt|yaml|yml|toml|sh|cfg|ini)|Makefile|Dockerfile")
PENDING = "written by the parallel infra/ work (infra/*.yaml, scripts/deploy_plan.sh)"


# ---- (a) the diagram renders ----

def test_diagram_renders_png_and_svg(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed (Debian package graphviz; scripts/install_system_deps.sh "
                    "installs it), so the diagram cannot be rendered here.")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    png, svg = tmp_path / "mlops_architecture.png", tmp_path / "mlops_architecture.svg"
    for path in (png, svg):
        assert path.is_file() and path.stat().st_size > 0, f"{path.name} was not written"
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text
    assert "site-packages" not in text, "the SVG must inline its icons, not point into this machine's venv"


# ---- (b) the document names only what exists ----

@lru_cache(maxsize=None)
def document() -> str:
    return DOC.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def code_blocks() -> tuple[str, ...]:
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", document(), flags=re.S | re.M)
    return tuple(re.sub(r"\\\n\s*", " ", block) for block in blocks)  # join shell continuation lines


@lru_cache(maxsize=None)
def inline_spans() -> tuple[str, ...]:
    prose = re.sub(r"^```.*?^```", "", document(), flags=re.S | re.M)
    return tuple(re.findall(r"`([^`\n]+)`", prose))


def code_texts() -> list[str]:
    return [*code_blocks(), *inline_spans()]


@lru_cache(maxsize=None)
def source_text() -> str:
    parts = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                parts.append(path.read_text(encoding="utf-8", errors="ignore"))
    return "\n".join(parts)


def subcommands() -> set[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_the_document_exists_and_embeds_the_diagram():
    assert "](docs/mlops_architecture.png)" in document()
    assert (ROOT / "docs" / "mlops_architecture.png").is_file()


def test_tweetops_subcommands_exist():
    named = {m.group(1) for text in code_texts()
             for m in re.finditer(r"(?:^|[\s/(])tweetops[ \t]+([a-z][\w-]*)", text, flags=re.M)}
    assert named, "the document shows no `tweetops <subcommand>`; the pattern no longer matches it"
    unknown = named - subcommands()
    assert not unknown, f"not tweetops subcommands: {sorted(unknown)} (real: {sorted(subcommands())})"


def test_docker_run_commands_are_entrypoint_commands():
    commands = set(re.findall(r"(?:IMAGE|\|) ([a-z][\w-]*)", USAGE))
    assert {"serve", "batch-predict", "train", "pipeline"} <= commands, USAGE
    seen = []
    for text in code_texts():
        for line in text.splitlines():
            if "docker run" not in line:
                continue
            tokens = line.split("docker run", 1)[1].split()
            image = next((i for i, t in enumerate(tokens)
                          if t == "IMAGE" or t.startswith(("tweetops:", "$REGISTRY", "${REGISTRY"))), None)
            assert image is not None and image + 1 < len(tokens), f"no IMAGE and command in: {line.strip()}"
            seen.append(tokens[image + 1])
    assert seen, "the document shows no `docker run ... IMAGE <command>`"
    unknown = set(seen) - commands
    assert not unknown, f"not commands of the image's entrypoint: {sorted(unknown)} (real: {sorted(commands)})"


def test_environment_variables_exist():
    named = {span for span in inline_spans() if ENV_NAME.fullmatch(span)}
    named |= {m.group(1) for block in code_blocks()
              for m in re.finditer(r"(?<![\w$])([A-Z][A-Z0-9_]{3,})=", block)}
    named |= {name for span in inline_spans() if "," in span
              for name in (part.strip() for part in span.split(",")) if ENV_NAME.fullmatch(name)}
    assert {"AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "MODEL_DIR"} <= named
    source = source_text()
    unknown = sorted(name for name in named - PLATFORM_VARIABLES
                     if not re.search(rf"(?<![A-Z0-9_]){re.escape(name)}(?![A-Z0-9_])", source))
    assert not unknown, f"environment variables the code never reads (src/, api/, ui/, .github/): {unknown}"


def test_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, flags=re.M))
    if (ROOT / "scripts" / "deploy_plan.sh").is_file():
        targets.add("deploy-plan")  # the target lands with the script
    named = {m.group(1) for text in code_texts()
             for m in re.finditer(r"(?:^|[\s(])make[ \t]+([a-z][\w-]*)", text, flags=re.M)}
    assert {"image", "deploy-plan"} <= named
    unknown = named - targets
    assert not unknown, f"not Makefile targets: {sorted(unknown)} (deploy-plan needs scripts/deploy_plan.sh: {PENDING})"


def looks_like_repo_path(span: str) -> bool:
    if any(c in span for c in " <>*{}$…") or "://" in span or span.startswith(("/", "~")):
        return False
    span = span.removeprefix("./")
    if "/" in span:
        return span.split("/", 1)[0] in REPO_FOLDERS
    return bool(TOP_LEVEL_FILE.fullmatch(span))


def test_repository_paths_exist():
    links = re.findall(r"\]\(([^)\s#]+)\)", document())
    paths = {p.removeprefix("./").rstrip("/") for p in [*inline_spans(), *links] if looks_like_repo_path(p)}
    assert "docs/mlops_architecture.png" in paths and "infra/batch.yaml" in paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"paths named in ARQUITECTURA_NUBE.md that do not exist: {missing} (infra/: {PENDING})"
