"""Locked dependencies: every install reads a hashed lock, the locks agree, and this environment is the lock.

Two installs of one commit must hold the same files: pip and uv refuse, in hash-checking mode, any file
whose sha256 is not in the lock. These tests keep the locks in step with the pinned inputs they are
compiled from (scripts/lock.sh) and with what the tests run on.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re

from packaging.utils import canonicalize_name

from tests.repo_copy import ROOT
from tests.supply_chain.locks import ENCODER_LOCK, LOCKS, read_lock

spec = importlib.util.spec_from_file_location("lock_inputs", ROOT / "scripts" / "lock_inputs.py")
lock_inputs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock_inputs)
PREFIX, inputs_line = lock_inputs.PREFIX, lock_inputs.inputs_line

UNLOCKED_TOOLS = {"pip", "setuptools", "tweetops"}  # the venv's own installers and the project (editable)


def test_every_lock_is_compiled_from_its_inputs_as_they_are_now_with_a_hash_for_every_package():
    """The inputs line scripts/lock.sh writes on top of each lock, recomputed: an input edited since (a pin, an
    extra, a marker, an include, a package removed) without running scripts/lock.sh fails here."""
    covered = set()
    for lock in LOCKS:
        text = (ROOT / lock).read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith(PREFIX), f"{lock} has no inputs line: run scripts/lock.sh"
        names = first[len(PREFIX):].rsplit(" ", 1)[0].split()
        assert first == inputs_line(names), f"{lock} is older than its inputs {names}: run scripts/lock.sh"
        assert "#    scripts/lock.sh" in text and "--index-url" not in text and "--extra-index-url" not in text
        covered.update(names)
        entries = read_lock(ROOT / lock)
        assert entries, f"{lock} holds no package"
        unhashed = [name for name, entry in entries.items() if not entry.hashes]
        assert not unhashed, f"{lock}: no hash for {unhashed}"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for e in entries.values() for h in e.hashes)
    inputs = {path.relative_to(ROOT).as_posix() for pattern in ("requirements*.txt", "*/requirements*.txt")
              for path in ROOT.glob(pattern)}
    assert inputs <= covered, f"requirements files no lock is compiled from: {sorted(inputs - covered)}"


def test_an_edited_input_no_longer_matches_its_lock(tmp_path):
    """What the test above relies on: any edit of an included file changes the digest."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("x==1\n--requirement sub/b.txt\n")
    (tmp_path / "sub" / "b.txt").write_text("psycopg[binary]==3.3.9\n")
    before = inputs_line(["a.txt"], root=tmp_path)
    (tmp_path / "sub" / "b.txt").write_text("psycopg[binary,pool]==3.3.9\n")
    assert inputs_line(["a.txt"], root=tmp_path) != before


def test_a_package_has_one_version_in_every_lock():
    development = read_lock(ROOT / "requirements-dev.lock")
    for lock in LOCKS:
        if lock == "requirements-uv.lock":  # uv installs the others; it is not among them
            continue
        for name, entry in read_lock(ROOT / lock).items():
            if name not in development:
                assert lock == ENCODER_LOCK, f"{lock} locks {name}, which the development lock does not"
                continue
            assert development[name].version == entry.version, f"{name}: {lock} {entry.version}, dev lock " \
                f"{development[name].version}"


def test_this_environment_is_exactly_the_development_lock():
    """What `make install-dev` installed (the development lock, then the encoder's): every locked package at its
    locked version, and nothing unlocked."""
    locked = {name: e for name, e in read_lock(ROOT / "requirements-dev.lock").items() if e.applies_here()}
    locked.update(read_lock(ROOT / "requirements-uv.lock"))
    locked.update(read_lock(ROOT / ENCODER_LOCK))
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
