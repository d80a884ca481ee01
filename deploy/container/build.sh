#!/usr/bin/env bash
# The container image of the Bento, built with `bentoml containerize` and nothing from the
# network (what `make container` runs):
#   deploy/container/build.sh [BENTO_TAG [IMAGE]]     defaults: firstpitch:latest, $FIRSTPITCH_IMAGE
# Build setting FIRSTPITCH_CONTAINER_BASE (deploy/container/README.md):
#   local (default)    the Debian bookworm base made here by base-image.sh; build runs with
#                      --network none
#   an image name      e.g. python:3.11-slim, BentoML's usual base, on a machine that can pull;
#                      apt adds the run-time packages it lacks
# Python packages always come from the wheelhouse image (wheelhouse.sh, from uv.lock).
# Prints one JSON line: image, base, size, build seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
bento="${1:-firstpitch:latest}"
image="${2:-${FIRSTPITCH_IMAGE:-firstpitch:latest}}"
base="${FIRSTPITCH_CONTAINER_BASE:-local}"
cache="${FIRSTPITCH_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firstpitch/container}"
start=$(date +%s.%N)

docker="$(deploy/container/docker.sh ensure)"
network=()
if [[ "$base" == local ]]; then
  base="$(deploy/container/base-image.sh "$docker")"
  network=(--opt network=none)
fi
wheelhouse="$(deploy/container/wheelhouse.sh "$docker")"

# bentoml containerize runs the first `docker` on PATH: make it the BuildKit-capable client.
# It renders the Dockerfile template from a copy of the Bento in $TMPDIR and refuses one
# outside its working directory (or under a hidden one), so both are a fresh /tmp directory.
work="$(mktemp -d /tmp/firstpitch-containerize-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" && ln -s "$docker" "$work/bin/docker"
project="$PWD"
export BENTOML_HOME="${BENTOML_HOME:-$project/.state/bentoml}"
(cd "$work" && PATH="$work/bin:$project/.venv/bin:$PATH" TMPDIR="$work" DOCKER_BUILDKIT=1 \
  BENTOML_DO_NOT_TRACK=true "$project/.venv/bin/bentoml" containerize "$bento" --backend docker -t "$image" \
  --opt "build-arg=FIRSTPITCH_BASE_IMAGE=$base" \
  --opt "build-arg=FIRSTPITCH_WHEELHOUSE=$wheelhouse" "${network[@]}") >&2

size=$("$docker" image inspect -f '{{.Size}}' "$image")
printf '{"image": "%s", "base": "%s", "wheelhouse": "%s", "size_mb": %.0f, "build_s": %.1f}\n' \
  "$image" "$base" "$wheelhouse" "$(echo "$size / 1000000" | bc -l)" \
  "$(echo "$(date +%s.%N) - $start" | bc -l)"
