#!/usr/bin/env bash
# Debian packages the tests need for their real components, installed only when missing.
# Called by `make test` (and so by .ci/run); a no-op on a machine that already has them.
# Extra package names as arguments are installed too (`make bench-deps` adds wrk).
set -euo pipefail

packages=(
  postgresql      # a real PostgreSQL server for the prediction history tests
  debootstrap     # builds a stand-in python:3.11-slim base when no container registry is reachable
  graphviz        # the `dot` binary the `diagrams` package renders mlops_architecture.py with
  chromium        # a real browser for the UI tests, driven by Playwright (its own download cannot work here)
  chromium-driver # ChromeDriver, for tools that drive Chromium over WebDriver rather than CDP
  prometheus      # a real Prometheus (and promtool) for the alert and dashboard tests
  prometheus-pushgateway # where `tweetops monitor` pushes its drift verdict, in the same tests
)
packages+=("$@")
# The image tests need a Docker daemon: Debian's docker.io, unless one is installed already (Docker CE).
command -v dockerd >/dev/null || packages+=(docker.io)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them (as root: apt-get install ${missing[*]})." >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
