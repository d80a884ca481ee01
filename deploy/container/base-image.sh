#!/usr/bin/env bash
# The local base image: Debian bookworm (python3 is 3.11) made with debootstrap and imported
# into Docker, for machines that cannot pull images. Prints the image name.
#   deploy/container/base-image.sh DOCKER_CLIENT
# Cached twice: the image in Docker (firstpitch-base:bookworm-<key>) and the root file system
# tarball under $FIRSTPITCH_CONTAINER_CACHE; <key> hashes this script, so changing the
# package list or the mirror makes a new base. FIRSTPITCH_DEBIAN_MIRROR picks the mirror; a
# snapshot.debian.org URL (…/archive/debian/20261201T000000Z) pins every package version.
set -euo pipefail
docker="${1:?usage: base-image.sh DOCKER_CLIENT}"
cache="${FIRSTPITCH_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/firstpitch/container}"
mirror="${FIRSTPITCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm
# Run-time needs only: the interpreter, TLS roots, curl (health check), LightGBM's OpenMP,
# time zones. No compiler: every Python package comes as a wheel.
packages=python3,ca-certificates,curl,libgomp1,tzdata

key="$( { cat "$0"; echo "$mirror"; } | sha256sum | cut -c1-12)"
image="firstpitch-base:${suite}-${key}"
if "$docker" image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi

mkdir -p "$cache"
tarball="$cache/base-${suite}-${key}.tar"
if [[ ! -s "$tarball" ]]; then
  command -v debootstrap >/dev/null || { echo "base-image.sh: debootstrap is missing" >&2; exit 1; }
  rootfs="$(mktemp -d "$cache/rootfs.XXXXXX")"
  trap 'rm -rf "$rootfs"' EXIT
  echo "base-image.sh: debootstrap $suite from $mirror (a few minutes, once)" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -30 "$cache/debootstrap.log" >&2; exit 1; }
  printf 'deb %s %s main\n' "$mirror" "$suite" > "$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.cache
  # Same inputs, same bytes: sorted entries, one timestamp, numeric owners.
  tar --sort=name --mtime=@0 --numeric-owner --xattrs -C "$rootfs" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
"$docker" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  --message "debootstrap $suite ($packages) from $mirror" \
  "$tarball" "$image" >/dev/null
echo "$image"
