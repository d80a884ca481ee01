#!/usr/bin/env bash
# Images for the other compose services, built from Debian bookworm's packages on the local
# base (for machines that cannot pull the official ones). Prints the compose variables that
# select them:  POSTGRES_IMAGE=… REDIS_IMAGE=… MLFLOW_IMAGE=… PROMETHEUS_IMAGE=…
#   deploy/container/service-images.sh DOCKER_CLIENT
# apt runs inside the build (Debian's archive is reachable from containers here); MLflow comes
# from the wheelhouse of uv.lock, with no network.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docker="${1:?usage: service-images.sh DOCKER_CLIENT}"
base="$("$here/base-image.sh" "$docker")"
wheelhouse="$("$here/wheelhouse.sh" "$docker")"
key="${base##*-}"
build() {  # NAME TAG [docker build flags]
  local name="$1" tag="firstpitch-local/$1:$2-$key"; shift 2
  if ! "$docker" image inspect "$tag" >/dev/null 2>&1; then
    echo "service-images.sh: building $tag" >&2
    DOCKER_BUILDKIT=1 "$docker" build -q "$@" --build-arg "FIRSTPITCH_BASE_IMAGE=$base" \
      -f "$here/services/$name.Dockerfile" -t "$tag" "$here/services" >/dev/null
  fi
  echo "$tag"
}
mlflow_version="$(grep -o '^mlflow==[^ ]*' "$here/../../requirements/bento.txt" | cut -d= -f3)"
echo "POSTGRES_IMAGE=$(build postgres 15)"
echo "REDIS_IMAGE=$(build redis 7)"
echo "PROMETHEUS_IMAGE=$(build prometheus 2)"
echo "MLFLOW_IMAGE=$(build mlflow "$mlflow_version" --network none \
  --build-arg "FIRSTPITCH_WHEELHOUSE=$wheelhouse")"
