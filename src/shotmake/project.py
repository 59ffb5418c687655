"""The project a spec belongs to: its root holds ``shotmake.toml``, the cache and the outputs.

Kept apart from ``spec.py`` so that finding the root (which every command does, even one
served from a snapshot) does not import the YAML and schema machinery.

The root is the nearest ancestor of the spec holding ``shotmake.toml``; without one, the
nearest holding ``.git``; without that, the nearest holding ``.shotmake`` (a cache from an
earlier build); else the working directory when it contains the spec, else the spec's own
folder. Markers are searched in that order, not folder by folder, so a stray ``.shotmake``
in a subfolder never hides the ``shotmake.toml`` above it. Commands without a spec (``gc``,
``cost``, ``jobs``) search from the working directory the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Files or folders whose presence marks a project's root directory, strongest first.
ROOT_MARKERS = ("shotmake.toml", ".git", ".shotmake")
#: Where the cache and the outputs go, relative to the root, unless --cache-dir/--out-dir say.
CACHE_DIR = ".shotmake"
OUT_DIR = "build"


def _marked(start: Path) -> Path | None:
    folders = [start, *start.parents]
    for marker in ROOT_MARKERS:
        for folder in folders:
            if (folder / marker).exists():
                return folder
    return None


def find_root(spec: Path) -> Path:
    """The project root of a spec (see the module docstring for the rule)."""
    spec = spec.absolute()
    found = _marked(spec.parent)
    if found is not None:
        return found
    cwd = Path.cwd()
    return cwd if spec.is_relative_to(cwd) else spec.parent


def hidden_caches(start: Path, root: Path) -> list[Path]:
    """Caches (``.shotmake`` folders with renders) in ``start`` or its parents below ``root``.

    The root's own cache is the one used; one of these was left by an older shotmake run from
    that folder (or by ``--cache-dir``), and passing it over silently would pay for its renders
    again. Callers say so; nothing here prints.
    """
    start, root = start.absolute(), root.absolute()
    if not start.is_relative_to(root):
        return []
    found = []
    for folder in [start, *start.parents]:
        if folder == root:
            break
        objects = folder / CACHE_DIR / "objects"
        if objects.is_dir() and any(objects.iterdir()):
            found.append(folder / CACHE_DIR)
    return found


def root_here() -> Path:
    """The project root of the working directory, for commands that take no spec."""
    cwd = Path.cwd()
    return _marked(cwd) or cwd


def in_root(root: Path, name: str) -> Path:
    """``root/name``, relative to the working directory when that is inside the root (shorter messages)."""
    path = root / name
    cwd = Path.cwd()  # the real path: compare it with the root's (``../`` and symlinks resolved)
    return Path(os.path.relpath(path, cwd)) if cwd.is_relative_to(root.resolve()) else path
