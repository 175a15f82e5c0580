#!/usr/bin/env python3
"""The inputs line of a lock file: which requirements files it was compiled from, and their digest.

    scripts/lock_inputs.py FILE...     prints  # inputs: FILE... sha256:<hex>

The digest covers each named file and every file it includes (-r/--requirement, -c/--constraint), in the
order met, by path and content. scripts/lock.sh puts this line at the top of each lock; the lock tests
recompute it, so a requirements file edited without running scripts/lock.sh fails them, whatever the edit
(a pin, an extra, a marker, an include, a package removed).
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=\S))(\S+)")
PREFIX = "# inputs: "


def included(files: list[Path]) -> list[Path]:
    """The files and, depth first, the files they include, each once."""
    seen: list[Path] = []

    def visit(path: Path) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.append(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            match = INCLUDE.match(line)
            if match:
                visit(path.parent / match.group(1))

    for file in files:
        visit(file)
    return seen


def inputs_line(names: list[str], root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in included([root / name for name in names]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{PREFIX}{' '.join(names)} sha256:{digest.hexdigest()}"


if __name__ == "__main__":
    print(inputs_line(sys.argv[1:]))
