#!/usr/bin/env python3
"""Checks that this Python environment holds exactly what a pinned requirements file lists.

    python tools/check_requirements.py tools/requirements-test.txt

Every `name==version` line (following `-r` includes) must be installed at that
version, and nothing else may be installed but pip and setuptools. So a pin
that pip silently overrode, or a new transitive dependency that nobody pinned,
fails set-up with its name instead of making CI and a new user's machine differ.
Exit 0 when they match, 1 with one line per difference otherwise.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

# The venv's own tooling: present in every environment, never a dependency of ours.
TOOLING = {"pip", "setuptools", "wheel"}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path, seen: set[Path] | None = None) -> dict[str, str]:
    seen = seen if seen is not None else set()
    path = path.resolve()
    if path in seen:
        return {}
    seen.add(path)
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(read_pins(path.parent / line[3:].strip(), seen))
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)", line)
        if not match:
            raise SystemExit(f"{path}:{number}: not an exact pin (name==version): {raw.strip()}")
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    pins = read_pins(Path(sys.argv[1]))
    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    problems = []
    for name, version in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}=={version} is pinned but not installed")
        elif have != version:
            problems.append(f"{name}=={version} is pinned but {have} is installed")
    for name in sorted(set(installed) - set(pins) - TOOLING):
        problems.append(f"{name}=={installed[name]} is installed but not pinned in {sys.argv[1]}")
    for p in problems:
        print(f"check_requirements: {p}", file=sys.stderr)
    if not problems:
        print(f"check_requirements: the environment matches {sys.argv[1]} ({len(pins)} pins)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
