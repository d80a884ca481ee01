#!/usr/bin/env bash
# The wheelhouse image: every Python package of the Bento as a wheel, exactly the versions and
# hashes of uv.lock, plus the uv binary that installs them; the image build mounts it and
# installs with no index. Made on the host (which reaches the package index). Prints its name.
#   deploy/container/wheelhouse.sh DOCKER_CLIENT
# Wheels are for the image (CPython 3.11.2, glibc 2.36, x86_64: Debian bookworm), not the host.
# Cached: the wheels under $FIRSTPITCH_CONTAINER_CACHE/wheels-<key>, the image in Docker as
# firstpitch-wheelhouse:<key>, <key> hashing the locked requirements, uv and this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
docker="${1:?usage: wheelhouse.sh DOCKER_CLIENT}"
cache="${FIRSTPITCH_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firstpitch/container}"
uv=.tools/bin/uv
[[ -x "$uv" ]] || { echo "wheelhouse.sh: $uv is missing: run ./run.sh setup" >&2; exit 1; }

mkdir -p "$cache"
locked="$(mktemp)"; trap 'rm -f "$locked"' EXIT
"$uv" export --frozen --no-dev --no-emit-project --no-header --no-annotate -q \
  | .venv/bin/python deploy/container/target_requirements.py > "$locked"
key="$( { cat "$locked" "$0"; "$uv" --version; } | sha256sum | cut -c1-12)"
image="firstpitch-wheelhouse:${key}"
if "$docker" image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi

dir="$cache/wheels-${key}"
if [[ ! -f "$dir/complete" ]]; then
  rm -rf "$dir"; mkdir -p "$dir/wheels"
  echo "wheelhouse.sh: downloading the locked wheels (once per uv.lock)" >&2
  # pip matches --platform tags literally: list every manylinux tag glibc 2.36 runs.
  platforms=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
  for minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
  .tools/bin/pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    --implementation cp --python-version 3.11.2 --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
    -d "$dir/wheels" -r "$locked" > "$cache/pip-download.log" 2>&1 \
    || { grep -v "^WARNING: Location" "$cache/pip-download.log" | tail -20 >&2; exit 1; }
  cp "$locked" "$dir/requirements.txt"
  touch "$dir/complete"
fi
cp "$uv" "$dir/uv"
tar --sort=name --mtime=@0 --numeric-owner -C "$dir" -c uv requirements.txt wheels \
  | "$docker" import --message "wheelhouse of uv.lock ($key)" - "$image" >/dev/null
echo "$image"
