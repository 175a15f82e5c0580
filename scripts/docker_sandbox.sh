#!/usr/bin/env bash
# A private Docker daemon for building and testing the image on a machine without a registry.
#
#   scripts/docker_sandbox.sh up   [DIR]   start dockerd under DIR; make sure python:3.11-slim exists;
#                                          print DOCKER_HOST=... and DOCKER=... on stdout (eval-able)
#   scripts/docker_sandbox.sh down [DIR]   stop it and remove everything it made (daemon, docker0, mounts, DIR)
#
# Exit status 3 means Docker cannot run on this machine (not root, no dockerd, the daemon will not start);
# any other non-zero status is a failure to report.
# DIR defaults to $TWEETOPS_DOCKER_DIR or /tmp/tweetops-docker (short: it holds a unix socket).
# The stand-in base image is cached as a tarball in $TWEETOPS_DOCKER_CACHE (default .cache/docker,
# git-ignored) so repeated local runs skip debootstrap; a clean CI machine builds it (~1 min).
# Why a stand-in: with no registry reachable, `FROM python:3.11-slim` can only resolve to a local
# tag. The Dockerfile stays unchanged; see shared notes docker-offline.md for the measurements.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ACTION=${1:-}
W=${2:-${TWEETOPS_DOCKER_DIR:-/tmp/tweetops-docker}}
CACHE=${TWEETOPS_DOCKER_CACHE:-$ROOT/.cache/docker}
BASE_TAG=${BASE_IMAGE:-python:3.11-slim}
# Debian's own client: it matches the daemon's API and its BuildKit needs no buildx.
DOCKER_BIN=/usr/bin/docker
[ -x "$DOCKER_BIN" ] || DOCKER_BIN=$(command -v docker || echo docker)

say() { echo "docker-sandbox: [${SECONDS}s] $*" >&2; }
# Alive and not a zombie: once `up` exits, dockerd's parent may never reap it, and kill -0 succeeds on zombies.
alive() { [ -r "/proc/$1/stat" ] && ! awk '{exit ($3 == "Z") ? 0 : 1}' "/proc/$1/stat" 2>/dev/null; }
d() { DOCKER_HOST="unix://$W/docker.sock" "$DOCKER_BIN" "$@"; }

ensure_packages() {
  if command -v dockerd >/dev/null && command -v debootstrap >/dev/null; then return; fi
  "$ROOT/scripts/install_system_deps.sh" >&2
  command -v dockerd >/dev/null || { say "dockerd is missing; install Debian's docker.io (scripts/install_system_deps.sh)."; exit 3; }
}

start_daemon() {
  if [ -f "$W/dockerd.pid" ] && alive "$(cat "$W/dockerd.pid")" && d info >/dev/null 2>&1; then
    say "reusing the daemon already running under $W"
    return
  fi
  mkdir -p "$W"
  # docker0 is removed on `down` only when this daemon created it.
  ip link show docker0 >/dev/null 2>&1 || touch "$W/created-docker0"
  # Own data/exec roots and socket; leave the host firewall alone (iptables off, so builds use --network host).
  dockerd --data-root "$W/data" --exec-root "$W/exec" --pidfile "$W/dockerd.pid" -H "unix://$W/docker.sock" \
    --iptables=false --ip-forward=false --ip-masq=false >"$W/dockerd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$W/dockerd.pid.started"
  for _ in $(seq 1 150); do
    d info >/dev/null 2>&1 && { say "dockerd up under $W"; return; }
    alive "$pid" || break
    sleep 0.2
  done
  say "dockerd did not start; its log:"; tail -n 20 "$W/dockerd.log" >&2
  exit 3
}

build_stand_in() {
  local mirror rootfs="$W/rootfs" bundle=/etc/ssl/certs/ca-certificates.crt
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { say "no Debian mirror configured in apt's sources; cannot build a stand-in base."; exit 1; }
  command -v debootstrap >/dev/null || { say "debootstrap is missing; install it (scripts/install_system_deps.sh)."; exit 1; }
  say "no $BASE_TAG and no registry: building a stand-in from $mirror (debootstrap bookworm + python3)"
  rm -rf "$rootfs" && mkdir -p "$rootfs"
  # Python in the same pass: one download and unpack, no second apt run inside a container.
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$W/debootstrap.log" 2>&1 || { tail -n 20 "$W/debootstrap.log" >&2; exit 1; }
  # Trim it as Debian's own -slim images are: no cached .debs, docs, man pages or translations.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
  find "$rootfs"/usr/share/doc -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  # Outbound HTTPS may be re-signed by a local authority only the host's bundle trusts: use that
  # bundle, and keep it in local certificates so a later update-ca-certificates keeps it too.
  cp "$bundle" "$rootfs/usr/local/share/ca-certificates/host-ca.crt"
  cp "$bundle" "$rootfs$bundle"
  # As python:3.11-slim behaves: pip may install system-wide, `python` and `pip` exist.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
  tar -C "$rootfs" -c . | d import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV PIP_CERT=$bundle REQUESTS_CA_BUNDLE=$bundle SSL_CERT_FILE=$bundle LANG=C.UTF-8" \
    --change 'CMD ["python3"]' - "$BASE_TAG" >/dev/null
  rm -rf "$rootfs"
}

ensure_base() {
  if d image inspect "$BASE_TAG" >/dev/null 2>&1; then return; fi
  # Named after the stand-in recipe's hash: a changed recipe never reuses an old tarball.
  local tarball prefix
  prefix="$CACHE/$(echo "$BASE_TAG" | tr ':/' '__')"
  tarball="$prefix-$(declare -f build_stand_in | sha256sum | cut -c1-12).tar"
  if [ -f "$tarball" ]; then
    say "loading $BASE_TAG from the cache $tarball"
    d load -q -i "$tarball" >/dev/null && return
  fi
  if [ "${TWEETOPS_TRY_PULL:-1}" = "1" ] && timeout 30 "$DOCKER_BIN" -H "unix://$W/docker.sock" pull -q "$BASE_TAG" >/dev/null 2>&1; then
    say "pulled $BASE_TAG"
  else
    build_stand_in
  fi
  if [ "${TWEETOPS_DOCKER_CACHE_SAVE:-1}" = "1" ] && [ -z "${CI:-}" ]; then
    mkdir -p "$CACHE" && rm -f "$prefix"-*.tar && d save -o "$tarball.partial" "$BASE_TAG" && mv "$tarball.partial" "$tarball"
  fi
}

down() {
  [ -d "$W" ] || return 0
  if [ -S "$W/docker.sock" ] && d info >/dev/null 2>&1; then
    local ids
    ids=$(d ps -aq)
    [ -z "$ids" ] || d rm -f $ids >/dev/null 2>&1 || true
  fi
  say "containers removed; stopping dockerd"
  local pid
  for f in "$W/dockerd.pid" "$W/dockerd.pid.started"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    alive "$pid" || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.1; done
    ! alive "$pid" || kill -9 "$pid" 2>/dev/null || true
  done
  # A containerd-shim of this daemon names its exec root on its command line; none should outlive it.
  for c in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' <"$c" 2>/dev/null | grep -q -- "$W/exec" || continue
    pid=${c#/proc/}; pid=${pid%/cmdline}
    [ "$pid" != "$$" ] && kill -9 "$pid" 2>/dev/null || true
  done
  say "dockerd stopped; removing docker0, mounts and $W"
  if [ -f "$W/created-docker0" ] && ip link show docker0 >/dev/null 2>&1; then ip link del docker0 || true; fi
  # Deepest mounts first: overlay layers, netns and shm mounts left under the data/exec roots.
  awk -v w="$W" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$W"
  say "removed $W"
}

case "$ACTION" in
  up)
    [ "$(id -u)" -eq 0 ] || { say "a private dockerd needs root; run as root or point DOCKER_HOST at your own daemon."; exit 3; }
    ensure_packages
    start_daemon
    ensure_base
    echo "DOCKER_HOST=unix://$W/docker.sock"
    echo "DOCKER=$DOCKER_BIN"
    ;;
  down) down ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
