#!/usr/bin/env bash
# Docker for the image build and the container tests, on a Debian machine where we are root.
#   deploy/container/docker.sh ensure   install docker.io (+ docker-compose, debootstrap) if
#                                       missing, start dockerd if none answers; prints the
#                                       client to use (Debian's, which builds with BuildKit)
#   deploy/container/docker.sh client   only print that client
#   deploy/container/docker.sh stop     stop the dockerd that `ensure` started, if any
# Another `docker` earlier on PATH may lack buildx (a Docker 28 CLI refuses DOCKER_BUILDKIT=1
# without it); Debian's docker.io client (20.10) has BuildKit built in, so it is used by path.
set -euo pipefail

STATE="${FIRSTPITCH_DOCKERD_STATE:-/var/lib/firstpitch-dockerd}"

client() {
  if [[ -x /usr/bin/docker ]] && dpkg -S /usr/bin/docker >/dev/null 2>&1; then
    echo /usr/bin/docker
  else
    command -v docker
  fi
}

install_packages() {
  local missing=()
  [[ -x /usr/sbin/dockerd ]] || missing+=(docker.io)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || { echo "docker.sh: need root to install ${missing[*]}" >&2; exit 1; }
  echo "docker.sh: installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_daemon() {
  local docker; docker="$(client)"
  "$docker" info >/dev/null 2>&1 && return 0
  [[ "$(id -u)" == 0 ]] || { echo "docker.sh: no Docker daemon answers and we are not root" >&2; exit 1; }
  mkdir -p "$STATE"
  echo "docker.sh: starting dockerd (log: $STATE/dockerd.log)" >&2
  # A system daemon in its own session, without the environment of whoever needed it first.
  (cd / && exec env -u FIRSTPITCH_TEST_SESSION setsid /usr/sbin/dockerd --storage-driver overlay2 >>"$STATE/dockerd.log" 2>&1 < /dev/null) &
  echo $! > "$STATE/dockerd.pid"
  for _ in $(seq 1 60); do
    "$docker" info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "docker.sh: dockerd did not answer within 60 s; last log lines:" >&2
  tail -20 "$STATE/dockerd.log" >&2
  exit 1
}

# Stops the daemon only if this script started it (its pid file), e.g. at the end of a test
# session that had to start it.
stop_daemon() {
  local pid
  pid="$(cat "$STATE/dockerd.pid" 2>/dev/null)" || return 0
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do [[ -d "/proc/$pid" ]] || break; sleep 1; done
  fi
  rm -f "$STATE/dockerd.pid"
}

case "${1:-ensure}" in
  ensure) install_packages; start_daemon; client ;;
  stop) stop_daemon ;;
  client) client ;;
  *) sed -n '2,8p' "$0"; exit 2 ;;
esac
