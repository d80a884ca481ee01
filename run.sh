#!/usr/bin/env bash
# One entry point for every task, used by people, CI and the Makefile alike.
#   ./run.sh serve   set up, bring everything up on embedded defaults and serve predictions
#   ./run.sh test    set up and run the test suite (what .ci/run calls)
#   ./run.sh setup   only create/refresh the virtualenv from the lock file
#   ./run.sh lint    ruff + mypy
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION="0.13.9"  # the same as the dev dependency uv==0.13.9 (pyproject.toml)
export UV_PYTHON_DOWNLOADS=never
export UV_LINK_MODE="${UV_LINK_MODE:-copy}"

setup() {
  local py="${FIRSTPITCH_PYTHON:-}"
  if [[ -z "$py" ]]; then
    for candidate in python3.11 python3; do
      if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
        py="$candidate"; break
      fi
    done
  fi
  [[ -n "$py" ]] || { echo "firstpitch needs Python 3.11 (set FIRSTPITCH_PYTHON)" >&2; exit 1; }
  if [[ ! -x .tools/bin/uv ]]; then
    "$py" -m venv .tools
    .tools/bin/pip install --quiet "uv==${UV_VERSION}"
  fi
  .tools/bin/uv sync --frozen --python "$py" --quiet
}

# Tools the test suite runs as separate processes (the load generator of the benchmarks).
test_tools() {
  command -v wrk >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  command -v wrk >/dev/null 2>&1 || { echo "the tests need wrk (apt-get install wrk)" >&2; exit 1; }
}

cmd="${1:-help}"; shift || true
case "$cmd" in
  setup) setup ;;
  serve) setup; exec .venv/bin/firstpitch serve "$@" ;;
  test)
    setup
    test_tools
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    .venv/bin/mypy
    exec .venv/bin/pytest "$@" ;;
  lint) setup; .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy ;;
  *) sed -n '2,7p' "$0"; [[ "$cmd" == help ]] ;;
esac
