#!/usr/bin/env bash
# Regenerate the hashed lock files from the pinned inputs beside them (X.txt -> X.lock). Run after editing
# any requirements*.txt; commit the .lock files with it. Every install reads a lock with --require-hashes:
#   requirements.lock            the serving image (Dockerfile)
#   requirements-train.lock      `make run` / `make install` and the retrain workflow
#   requirements-dev.lock        `make test` and CI: everything above plus the test and lint tools
#   ui/requirements.lock         the web UI's image (ui/Dockerfile)
#   docker/sbom-requirements.lock  the SBOM generator the image's builder stage runs
#   requirements-security.lock   pip-audit, for the workflows' supply-chain steps (`make security-tools`)
#   requirements-uv.lock         uv itself, which the Makefile installs with pip before anything else
#   requirements-encoder.lock    torch (CPU build) and what training the encoder family adds: Linux x86_64 only,
#                                with torch's file taken from TORCH_WHEELS (see the Makefile)
# The development lock is resolved first; the others are constrained to its versions, so a package has
# one version everywhere. uv keeps the versions already in a lock unless `--upgrade` is passed here. Each lock
# starts with its inputs line (scripts/lock_inputs.py): the files it came from and their digest, which the tests check.
# Universal (every platform's markers) for Python 3.11, the version of the image and of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=(.venv/bin/python -m uv pip compile --quiet --python-version 3.11 --generate-hashes
    --custom-compile-command scripts/lock.sh "$@")
platform=(--universal)
# lock OUTPUT INPUT... [-c CONSTRAINTS]: compile, then put the inputs line (scripts/lock_inputs.py) on top.
lock() {
  local out=$1 names=()
  shift
  for arg in "$@"; do [ "$arg" = -c ] || names+=("$arg"); done
  "${uv[@]}" "${platform[@]}" -o "$out" "$@"
  { .venv/bin/python scripts/lock_inputs.py "${names[@]}"; cat "$out"; } > "$out.tmp"
  mv "$out.tmp" "$out"
}
lock requirements-dev.lock requirements.txt requirements-train.txt requirements-dev.txt
lock requirements.lock requirements.txt -c requirements-dev.lock
lock requirements-train.lock requirements.txt requirements-train.txt -c requirements-dev.lock
lock ui/requirements.lock ui/requirements.txt -c requirements-dev.lock
lock docker/sbom-requirements.lock docker/sbom-requirements.txt -c requirements-dev.lock
lock requirements-security.lock requirements-security.txt -c requirements-dev.lock
lock requirements-uv.lock requirements-uv.txt
# torch's CPU build exists for the platforms the image and CI run on, not for every platform.
platform=(--python-platform x86_64-manylinux_2_28 --find-links "$(make -s --no-print-directory torch-wheels)")
lock requirements-encoder.lock requirements-encoder.txt -c requirements-dev.lock
