"""The versioned model bundle: models/<run_id>/{model.joblib, manifest.json}.

The manifest records the run id, git commit, params, input data sha256, metrics, library
versions and the sha256 of every file in the bundle. Loading checks every hash first and
refuses a mismatch, so a tampered or half-copied model is never served.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import joblib

from tweetops.errors import TweetopsError
from tweetops.io import atomic_path, read_json, sha256_file, write_json

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "vaderSentiment")


@dataclass(frozen=True)
class Bundle:
    model: object  # a fitted sklearn Pipeline: raw text -> class probabilities
    manifest: dict
    path: Path

    @property
    def version(self) -> str:
        return str(self.manifest["run_id"])


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(root: Path) -> str:
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def is_bundle(path: Path) -> bool:
    return (Path(path) / MANIFEST_FILE).is_file() and (Path(path) / MODEL_FILE).is_file()


def save_bundle(model, folder: Path, manifest: dict, extra_files: dict[str, Path] | None = None) -> Path:
    """Write the bundle into `folder` (built beside it, then renamed into place)."""
    folder = Path(folder)
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    joblib.dump(model, staging / MODEL_FILE, compress=3)
    for name, source in (extra_files or {}).items():
        shutil.copyfile(source, staging / name)
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
    manifest = {
        **manifest,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "files": files,
    }
    write_json(staging / MANIFEST_FILE, manifest)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder


def point_alias(models_dir: Path, alias: str, run_id: str) -> Path:
    """Atomically make models/<alias> (latest, champion, challenger) name the run's bundle (a relative symlink)."""
    link = Path(models_dir) / alias
    with atomic_path(link) as tmp:
        tmp.unlink()
        tmp.symlink_to(run_id)
    return link


def point_latest(models_dir: Path, run_id: str) -> Path:
    return point_alias(models_dir, "latest", run_id)


def load_manifest(folder: Path) -> dict:
    folder = Path(folder)
    if not folder.exists():
        raise TweetopsError(f"no model at {folder}; train one with `make run` or set MODEL_DIR.")
    if not is_bundle(folder):
        raise TweetopsError(f"{folder} is not a model bundle (it needs {MODEL_FILE} and {MANIFEST_FILE}).")
    try:
        return read_json(folder / MANIFEST_FILE)
    except ValueError:
        raise TweetopsError(f"{folder / MANIFEST_FILE} is not valid JSON; the bundle is damaged.")


def verify_bundle(folder: Path) -> dict:
    """The manifest, once every file it lists matches its sha256; else a TweetopsError."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise TweetopsError(f"{path} is listed in the manifest but missing; the bundle is incomplete.")
        if sha256_file(path) != expected:
            raise TweetopsError(f"{path} does not match the sha256 in its manifest; refusing to load a modified model.")
    if MODEL_FILE not in manifest.get("files", {}):
        raise TweetopsError(f"{folder / MANIFEST_FILE} lists no hash for {MODEL_FILE}; refusing to load it.")
    return manifest


def load_bundle(folder: Path) -> Bundle:
    folder = Path(folder)
    manifest = verify_bundle(folder)
    model = joblib.load(folder / MODEL_FILE)
    return Bundle(model=model, manifest=manifest, path=folder.resolve())
