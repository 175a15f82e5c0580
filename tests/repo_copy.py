"""A scratch copy of the working tree, as a fresh clone would see it (for workflow and image tests)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def head_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else "0" * 40


def copy_repo(dest: Path) -> Path:
    """Tracked and untracked-but-not-ignored files (so no .venv, models, caches); mtimes kept for make."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree but still in the index
            continue
        if any(part.startswith(".venv") or part == "__pycache__" for part in Path(name).parts):
            continue  # someone's not-yet-ignored virtualenv is not part of a clone
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for keep in ("models", "reports"):  # git-ignored contents, but a clone has the folders (.gitkeep)
        (dest / keep).mkdir(exist_ok=True)
    return dest
