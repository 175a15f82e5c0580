"""Locked dependencies: every install reads a hashed lock, the locks agree, and this environment is the lock.

Two installs of one commit must hold the same files: pip and uv refuse, in hash-checking mode, any file
whose sha256 is not in the lock. These tests keep the locks in step with the pinned inputs they are
compiled from (scripts/lock.sh) and with what the tests run on.
"""
from __future__ import annotations

import importlib.metadata
import re

from packaging.utils import canonicalize_name

from tests.repo_copy import ROOT
from tests.supply_chain.locks import LOCKS, direct_pins, read_lock

UNLOCKED_TOOLS = {"pip", "setuptools", "tweetops"}  # the venv's own installers and the project (editable)


def test_every_lock_pins_each_input_at_its_version_with_hashes():
    for lock, inputs in LOCKS.items():
        entries = read_lock(ROOT / lock)
        assert entries, f"{lock} holds no package"
        assert "#    scripts/lock.sh" in (ROOT / lock).read_text(), f"{lock} was not written by scripts/lock.sh"
        for source in inputs:
            for name, version in direct_pins(ROOT / source).items():
                assert name in entries, f"{source} pins {name} but {lock} lacks it: run scripts/lock.sh"
                assert entries[name].version == version, (
                    f"{source} pins {name}=={version}, {lock} has {entries[name].version}: run scripts/lock.sh")
        unhashed = [name for name, entry in entries.items() if not entry.hashes]
        assert not unhashed, f"{lock}: no hash for {unhashed}"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for e in entries.values() for h in e.hashes)


def test_a_package_has_one_version_in_every_lock():
    development = read_lock(ROOT / "requirements-dev.lock")
    for lock in LOCKS:
        if lock == "requirements-uv.lock":  # uv installs the others; it is not among them
            continue
        for name, entry in read_lock(ROOT / lock).items():
            assert development[name].version == entry.version, f"{name}: {lock} {entry.version}, dev lock " \
                f"{development[name].version}"


def test_this_environment_is_exactly_the_development_lock():
    """What `make install-dev` installed: every locked package at its locked version, and nothing unlocked."""
    locked = {name: e for name, e in read_lock(ROOT / "requirements-dev.lock").items() if e.applies_here()}
    locked.update(read_lock(ROOT / "requirements-uv.lock"))
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = {name: (installed.get(name), e.version) for name, e in locked.items() if installed.get(name) != e.version}
    assert not wrong, f"installed vs locked (run `make install-dev`): {wrong}"
    assert set(installed) - set(locked) - UNLOCKED_TOOLS == set()


def test_every_install_reads_a_lock_in_hash_checking_mode():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"^\t\$\((?:UV|PIP|LOCKED)\).*$", makefile, re.M)
    assert installs, "the Makefile installs nothing?"
    for line in installs:
        assert "--no-deps -e ." in line or ("--require-hashes" in line or "$(LOCKED)" in line) and ".lock" in line, line
    for dockerfile in ("Dockerfile", "ui/Dockerfile"):
        pip_installs = re.findall(r"pip install[^\n]*", (ROOT / dockerfile).read_text())
        assert pip_installs and all("--require-hashes -r" in c and ".lock" in c or "--no-deps /tmp/wheels" in c
                                    for c in pip_installs), (dockerfile, pip_installs)
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        assert "pip install" not in workflow.read_text(), f"{workflow.name} installs around the locks"
