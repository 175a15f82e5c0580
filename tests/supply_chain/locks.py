"""Reading the hashed lock files scripts/lock.sh writes (uv's requirements format with --hash lines)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.repo_copy import ROOT

# Each lock and the pinned inputs it is compiled from (scripts/lock.sh).
LOCKS = {
    "requirements.lock": ["requirements.txt"],
    "requirements-train.lock": ["requirements.txt", "requirements-train.txt"],
    "requirements-dev.lock": ["requirements.txt", "requirements-train.txt", "requirements-dev.txt"],
    "ui/requirements.lock": ["ui/requirements.txt"],
    "docker/sbom-requirements.lock": ["docker/sbom-requirements.txt"],
    "requirements-security.lock": ["requirements-security.txt"],
    "requirements-uv.lock": ["requirements-uv.txt"],
}
ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][\w.\-]*)==(?P<version>[^\s;]+)(?: ; (?P<marker>[^\\]+?))? \\$")


@dataclass(frozen=True)
class Locked:
    version: str
    marker: str | None
    hashes: tuple[str, ...]

    def applies_here(self) -> bool:
        return self.marker is None or Marker(self.marker).evaluate()


def read_lock(path: Path) -> dict[str, Locked]:
    entries, name, lines = {}, None, path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        match = ENTRY.match(line)
        if match:
            name = canonicalize_name(match["name"])
            entries[name] = Locked(match["version"], match["marker"], ())
        elif name and line.strip().startswith("--hash=sha256:"):
            entry, digest = entries[name], line.strip().split(":", 1)[1].rstrip(" \\")
            entries[name] = Locked(entry.version, entry.marker, entry.hashes + (digest,))
        elif not line.startswith("    "):
            name = None
    return entries


def direct_pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a requirements file, following `-r` includes."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(direct_pins((path.parent / line[3:].strip()).resolve()))
        elif "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name.split("[", 1)[0])] = version.strip()
    return pins


def image_packages() -> dict[str, str]:
    """What the serving image installs on Linux: requirements.lock's entries whose markers hold there."""
    return {name: e.version for name, e in read_lock(ROOT / "requirements.lock").items() if e.applies_here()}
