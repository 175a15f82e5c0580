"""Reading the hashed lock files scripts/lock.sh writes (uv's requirements format with --hash lines)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.repo_copy import ROOT

LOCKS = ("requirements.lock", "requirements-train.lock", "requirements-dev.lock", "ui/requirements.lock",
         "docker/sbom-requirements.lock", "requirements-security.lock", "requirements-uv.lock",
         "requirements-encoder.lock")
# torch and the encoder's training tools: installed beside the development lock (`make install-dev`), locked
# apart because torch's CPU build exists for Linux x86_64 only, not for every platform the others resolve for.
ENCODER_LOCK = "requirements-encoder.lock"
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][\w.\-]*)==(?P<version>[^\s;]+)(?: ; (?P<marker>[^\\]+?))? \\$")


@dataclass(frozen=True)
class Locked:
    version: str
    marker: str | None
    hashes: tuple[str, ...]

    def applies_here(self) -> bool:
        return self.marker is None or Marker(self.marker).evaluate()


def read_lock(path: Path) -> dict[str, Locked]:
    """name -> its entry; a name locked twice (a fork by environment markers) is refused, not merged."""
    entries, name, lines = {}, None, path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        match = ENTRY.match(line)
        if match:
            name = canonicalize_name(match["name"])
            assert name not in entries, f"{path.name} locks {name} twice (by environment); read_lock cannot choose"
            entries[name] = Locked(match["version"], match["marker"], ())
        elif name and line.strip().startswith("--hash=sha256:"):
            entry, digest = entries[name], line.strip().split(":", 1)[1].rstrip(" \\")
            entries[name] = Locked(entry.version, entry.marker, entry.hashes + (digest,))
        elif not line.startswith("    "):
            name = None
    return entries


def image_packages() -> dict[str, str]:
    """What the serving image installs on Linux: requirements.lock's entries whose markers hold there."""
    return {name: e.version for name, e in read_lock(ROOT / "requirements.lock").items() if e.applies_here()}
