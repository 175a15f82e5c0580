#!/usr/bin/env bash
# Build the tweetops image with one model bundle baked in, labelled from that bundle's manifest.
#
#   scripts/build_image.sh [--bundle models/<run_id>] [--tag NAME:TAG]... [--base IMAGE]
#
# Defaults: the champion (models/champion); tags tweetops:<run_id> and tweetops:<git sha>.
# Uses $DOCKER (default: docker) and whatever DOCKER_HOST says; when no daemon answers and this runs
# as root, it starts the private one of scripts/docker_sandbox.sh (left running for `docker run`).
# Only non-secret build args are passed (revision, time, source, run id, macro-F1, bundle path).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DOCKER=${DOCKER:-docker}
bundle=models/champion
base=""
tags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --tag) tags+=("$2"); shift 2 ;;
    --base) base=$2; shift 2 ;;
    *) echo "usage: $0 [--bundle DIR] [--tag NAME:TAG]... [--base IMAGE]" >&2; exit 2 ;;
  esac
done

# The bundle must be a real folder inside the build context (COPY does not follow models/champion).
resolved=$(realpath -e "$bundle" 2>/dev/null) || { echo "error: no model bundle at $bundle; train one with \`make run\`." >&2; exit 2; }
case "$resolved" in "$ROOT"/*) ;; *) echo "error: $bundle is outside the project; copy it under models/." >&2; exit 2 ;; esac
[ -f "$resolved/manifest.json" ] && [ -f "$resolved/manifest.sha256" ] && [ -f "$resolved/model.joblib" ] \
  || { echo "error: $bundle is not a model bundle (it needs model.joblib, manifest.json and manifest.sha256); retrain it with \`make run\`." >&2; exit 2; }
rel=${resolved#"$ROOT"/}

read -r run_id macro_f1 < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["run_id"], round(m["metrics"]["macro_f1"], 4))' "$resolved/manifest.json")
sha=${GITHUB_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ -n "${GITHUB_REPOSITORY:-}" ]; then
  source_url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY"
else
  source_url=$(git config --get remote.origin.url 2>/dev/null || echo unknown)
fi
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ ${#tags[@]} -gt 0 ] || tags=("tweetops:$run_id" "tweetops:$sha")

args=(build --network host --pull=false --force-rm
      --build-arg "GIT_SHA=$sha" --build-arg "CREATED=$created" --build-arg "SOURCE=$source_url"
      --build-arg "RUN_ID=$run_id" --build-arg "MACRO_F1=$macro_f1" --build-arg "MODEL_BUNDLE=$rel")
[ -z "$base" ] || args+=(--build-arg "BASE_IMAGE=$base")
for t in "${tags[@]}"; do args+=(-t "$t"); done

# No daemon answers (the case on a machine without Docker): as root, start the private one.
if ! "$DOCKER" info >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "error: no Docker daemon answers; start Docker or set DOCKER_HOST." >&2; exit 3; }
  eval "$("$ROOT/scripts/docker_sandbox.sh" up)"
  export DOCKER_HOST
  echo "using a private dockerd: export DOCKER_HOST=$DOCKER_HOST; stop it with scripts/docker_sandbox.sh down" >&2
fi
echo "building ${tags[*]} with bundle $rel (run $run_id, macro-F1 $macro_f1)" >&2
"$DOCKER" "${args[@]}" "$ROOT"
printf '%s\n' "${tags[@]}"
