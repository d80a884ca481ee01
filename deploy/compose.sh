#!/usr/bin/env bash
# docker compose for deploy/docker-compose.yml on this kind of machine:
#   deploy/compose.sh up -d | ps | logs firstpitch | down -v | …   (any compose arguments)
# - Docker is installed and started when missing (deploy/container/docker.sh).
# - FIRSTPITCH_COMPOSE_IMAGES=local (default) builds Postgres, Redis, MLflow and Prometheus
#   from Debian's packages (deploy/container/service-images.sh) and selects them through the
#   compose file's *_IMAGE variables; =official keeps the file's defaults (postgres:18,
#   redis:7.4-alpine, ghcr.io/mlflow/mlflow, prom/prometheus) for machines that can pull.
#   Variables already set in the environment always win.
# - Compose v2 (`docker compose`) when the client has it; otherwise Debian's docker-compose
#   1.29, given a copy of the file without the top-level `name:` it does not know (the project
#   name is passed with -p instead).
set -euo pipefail
deploy="$(cd "$(dirname "$0")" && pwd)"
docker="$("$deploy/container/docker.sh" ensure)"
if [[ "${FIRSTPITCH_COMPOSE_IMAGES:-local}" == local ]]; then
  while IFS='=' read -r var value; do
    [[ -n "${!var:-}" ]] || export "$var=$value"
  done < <("$deploy/container/service-images.sh" "$docker")
fi
project="${COMPOSE_PROJECT_NAME:-firstpitch}"
if "$docker" compose version >/dev/null 2>&1; then
  exec "$docker" compose -p "$project" -f "$deploy/docker-compose.yml" "$@"
fi
file="$(mktemp "$deploy/.compose-v1.XXXXXX.yml")"
trap 'rm -f "$file"' EXIT
grep -v '^name:' "$deploy/docker-compose.yml" > "$file"
DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}" \
  docker-compose -p "$project" --project-directory "$deploy" -f "$file" "$@"
