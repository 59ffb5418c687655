"""The project a spec belongs to: the directory no spec, include or asset path may leave.

Kept apart from ``spec.py`` so that finding the root (which every command does, even one
served from a snapshot) does not import the YAML and schema machinery.
"""

from __future__ import annotations

from pathlib import Path

#: Files or folders whose presence marks a project's root directory.
ROOT_MARKERS = ("shotmake.toml", ".git", ".shotmake")


def find_root(spec: Path) -> Path:
    """The project root of a spec: the nearest ancestor holding a marker (``shotmake.toml``,
    ``.git``, ``.shotmake``), else the working directory when it contains the spec, else the
    spec's own directory."""
    spec = spec.absolute()
    for parent in spec.parents:
        if any((parent / marker).exists() for marker in ROOT_MARKERS):
            return parent
    cwd = Path.cwd()
    return cwd if spec.is_relative_to(cwd) else spec.parent
