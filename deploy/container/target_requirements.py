"""Locked requirements (uv export, with hashes) for the image's interpreter, not the host's.

pip evaluates the environment markers of a requirements file against the interpreter it
runs on, whatever --python-version says; the image's Python (Debian bookworm: 3.11.2) can
need a package the host's does not (async-timeout, python_full_version < '3.11.3'). This
keeps the entries whose markers hold for the image and drops the markers.
"""

from __future__ import annotations

import sys

from packaging.markers import Marker

IMAGE = {
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def for_image(text: str) -> str:
    entries: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith((" ", "\t")) and entries:
            entries[-1].append(line)
        elif line.strip() and not line.startswith("#"):
            entries.append([line])
    kept = []
    for first, *rest in entries:
        requirement, _, marker = first.removesuffix("\\").partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(IMAGE):
            continue
        kept.append("\n".join([requirement.rstrip() + " \\", *rest]) if rest else requirement)
    return "\n".join(kept) + "\n"


if __name__ == "__main__":
    sys.stdout.write(for_image(sys.stdin.read()))
