"""What a spec snapshot or an up-to-date stamp was made from, and whether it still stands.

A null build is the command people run most ("make episode" again), so it should cost what
ninja's does: a few ``stat`` calls. ``snapshot.py`` keeps the loaded episode and plan while
the spec's inputs stand still; this module adds the **up-to-date stamp**, written after each
successful build, which lets the next ``build`` say "nothing to do" without decoding the
plan or opening the cache index. The stamp holds:

* the snapshot's inputs: the spec and its includes by content, the files they name by
  ``(size, mtime_ns, inode, device)``, the path, working directory, project root and
  shotmake's own code;
* today's date (lint's rules read it) and the environment that decides routes and lint:
  the *names* of the credentials that are set (never their values) and the values of
  ``SHOTMAKE_*``, ``*_BASE_URL`` and ``GOOGLE_CLOUD_*`` variables, with any credential in a
  URL (userinfo, ``?key=``) redacted: the stamp sits on disk, and those parts decide nothing;
* ``shotmake.toml``'s content, the output and cache directories;
* the cache's state: the index database's files and every object folder, by stat (any
  store, eviction, ``gc`` or hand deletion changes one of them);
* each output and the lock file, by stat;
* what the build printed that a null build prints again (lint warnings, the summary).

Any difference, a missing or corrupt stamp, or a build holding the cache's lock sends the
command down the full path, which checks everything and writes a fresh stamp. Only stdlib
imports (and ``redaction``, ``atomic`` and ``hashing``, stdlib only): this runs before the rest of shotmake is loaded.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import sys
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import atomic
from .hashing import sha256_hex
from .redaction import is_secret_variable, scrub_urls

#: Bump when snapshots or stamps change meaning: every one written before is then ignored.
FORMAT = 2
#: Variables whose values steer routes, endpoints or lint (none of them secret).
SETTING_PREFIXES = ("SHOTMAKE_", "GOOGLE_CLOUD_")
SETTING_SUFFIXES = ("_BASE_URL",)


def stat_of(path: str) -> list[int] | None:
    """``[size, mtime_ns, inode, device]`` of a file, or None when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev]


def content_of(path: str) -> str | None:
    """SHA-256 of a (small) file's bytes, or None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return sha256_hex(handle.read())
    except OSError:
        return None


_CODE: str | None = None


def code_fingerprint() -> str:
    """shotmake's own inputs: Python's version and every source, schema and data file's size and mtime."""
    global _CODE
    if _CODE is None:
        package = os.path.dirname(os.path.abspath(__file__))
        entries = []
        for folder, folders, names in sorted(os.walk(package)):
            folders[:] = [f for f in folders if f != "__pycache__"]  # bytecode follows the sources
            relative = folder[len(package) + 1:]
            for name in sorted(names):
                if name.endswith((".py", ".json", ".toml")):  # the route catalog and dialogue.toml are inputs too
                    st = os.stat(os.path.join(folder, name))
                    entries.append(f"{os.path.join(relative, name)}:{st.st_size}:{st.st_mtime_ns}")
        entries.append(f"python:{sys.version_info[:3]}:format:{FORMAT}")
        _CODE = sha256_hex("\n".join(entries).encode())
    return _CODE


def identity(path: Path) -> dict[str, Any]:
    """What names a spec's snapshot besides its content: the path as given, cwd, root, code."""
    from .project import find_root

    root = find_root(path).resolve()
    # shotmake.toml defines routes a spec may name, so a changed one must load the spec again.
    return {"format": FORMAT, "code": code_fingerprint(), "path": str(path), "cwd": os.getcwd(),
            "root": str(root), "config": content_of(str(root / "shotmake.toml"))}


def entry_path(folder: Path, ident: Mapping[str, Any]) -> Path:
    """The snapshot file of a spec (its stamp and lint findings sit beside it)."""
    name = sha256_hex(f"{ident['cwd']}\0{ident['path']}".encode())[:40]
    return folder / f"{name}.json"


def inputs_hold(inputs: Mapping[str, Any], ident: Mapping[str, Any], *, spec: bool = True,
                digest: str | None = None) -> bool:
    """Whether a snapshot's recorded inputs still describe the files on disk (all but the spec
    file itself when ``spec`` is False: an edited spec, see ``spec_delta``). ``digest``: the spec's,
    when the caller has read it already."""
    if any(inputs.get(k) != v for k, v in ident.items()):
        return False
    if spec and inputs.get("spec") != (digest if digest is not None else content_of(ident["path"])):
        return False
    for path, digest in inputs.get("includes", []):
        if content_of(path) != digest:
            return False
    return all(stat_of(path) == stat for path, stat in inputs.get("assets", []))


# -- reading and writing checksummed JSON ------------------------------------------------------
def read_json(path: Path) -> Any:
    """The JSON value of a file ``write_json`` wrote, or None if it is missing, truncated or corrupt."""
    body = read_checked(path)
    if body is None:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def read_checked(path: Path) -> bytes | None:
    """The text ``write_json`` wrote to a file, or None if it is missing or fails its checksum."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    check, _, body = raw.partition(b"\n")
    return body if checksum(body) == check else None


def checksum(body: bytes) -> bytes:
    """The first line of a checked file: the CRC-32 and length of the rest.

    It finds a torn, truncated or damaged file, which is all it is for: the cache folder is
    the owner's alone, and whoever can write a file there could write its checksum too. (It
    was a SHA-256: reading a 1,000-shot snapshot then cost loading OpenSSL and ~1 ms of hashing;
    CRC-32 runs at ~6 GB/s.)
    """
    return f"crc32:{zlib.crc32(body):08x}:{len(body)}".encode()


def write_json(target: Path, text: str) -> None:
    """Write atomically, owner-only, after a checksum line (``read_json`` checks it).

    Not fsynced: a lost snapshot or stamp costs the next run the full path, nothing more. A
    read-only or full cache costs the same.
    """
    body = text.encode()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic.write_bytes(target, checksum(body) + b"\n" + body, mode=0o600, durable=False)
    except OSError:
        pass


# -- the up-to-date stamp ----------------------------------------------------------------------
def environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The part of the environment a build's plan and lint depend on, with no secret in it."""
    settings = {k: scrub_urls(v) for k, v in env.items()
                if k.startswith(SETTING_PREFIXES) or k.endswith(SETTING_SUFFIXES)}
    return {"credentials": sorted(k for k in env if is_secret_variable(k) and env[k].strip()), "settings": settings}


def cache_state(cache_dir: Path) -> list[Any]:
    """The stat of the cache index's database files and of every object folder."""
    index = cache_dir / "index"
    state: list[Any] = [[name, stat_of(str(index / name))] for name in ("index.sqlite", "index.sqlite-journal")]
    objects = cache_dir / "objects"
    try:
        folders = sorted(os.scandir(objects), key=lambda e: e.name)
    except OSError:
        return [*state, None]
    state.append(stat_of(str(objects)))
    state.extend([e.name, stat_of(e.path)] for e in folders)
    return state


def _context(root: str, cache_dir: Path, out_dir: Path, env: Mapping[str, str],
             today: datetime.date) -> dict[str, Any]:
    """Everything but the snapshot's inputs that a stamp is compared on (``root``: the project's)."""
    config = Path(root) / "shotmake.toml"
    return {"date": today.isoformat(), "env": environment(env), "config": content_of(str(config)),
            "cache": str(cache_dir.resolve()), "out": str(out_dir.resolve())}


def stamp_path(cache_dir: Path, ident: Mapping[str, Any]) -> Path:
    return entry_path(cache_dir / "specs", ident).with_suffix(".uptodate.json")


def write_stamp(cache_dir: Path, out_dir: Path, *, inputs: Mapping[str, Any],
                outputs: Iterable[Path], lines: list[tuple[str, bool]], env: Mapping[str, str],
                today: datetime.date) -> None:
    """Record that the spec of ``inputs`` was just built in full; ``lines`` is what a null build prints
    (``(text, always)``: always is printed under ``-q`` too)."""
    ident = {k: inputs[k] for k in ("format", "code", "path", "cwd", "root") if k in inputs}
    stamp = {
        "format": FORMAT,
        "inputs": dict(inputs),
        "context": _context(ident["root"], cache_dir, out_dir, env, today),
        "cache_state": cache_state(cache_dir),
        "outputs": [[str(p), stat_of(str(p))] for p in outputs],
        "lines": lines,
    }
    try:
        text = json.dumps(stamp, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return
    write_json(stamp_path(cache_dir, ident), text)


def cached_path(cache_dir: Path, ident: Mapping[str, Any]) -> Path:
    return entry_path(cache_dir / "specs", ident).with_suffix(".cached.json")


def write_cached(cache_dir: Path, inputs: Mapping[str, Any], keys: Iterable[str]) -> None:
    """Record the node keys a build just found or stored, with the cache's state (``cache_state``) then."""
    ident = {k: inputs[k] for k in ("format", "code", "path", "cwd", "root") if k in inputs}
    record = {"format": FORMAT, "state": cache_state(cache_dir), "keys": sorted(set(keys))}
    if read_json(cached_path(cache_dir, ident)) != json.loads(json.dumps(record)):  # a null build rewrites nothing
        write_json(cached_path(cache_dir, ident), json.dumps(record, separators=(",", ":")))


def cached_keys(cache_dir: Path, ident: Mapping[str, Any]) -> frozenset[str]:
    """The keys ``write_cached`` recorded for this spec, when the cache has not changed since (no object
    folder and no index file with another stat): they are cached still. Else none.

    The trust a null build puts in the up-to-date stamp, for a plan after an edit: its unchanged
    nodes need neither an index entry read nor their object stat'ed.
    """
    data = read_json(cached_path(cache_dir, ident))
    try:
        if data.get("format") != FORMAT or data["state"] != cache_state(cache_dir):
            return frozenset()
        return frozenset(k for k in data["keys"] if isinstance(k, str))
    except (AttributeError, KeyError, TypeError):
        return frozenset()


def forget_stamp(spec: Path, cache_dir: Path) -> None:
    """Remove a spec's stamp: a build on the full path may change what it vouches for, or fail."""
    with contextlib.suppress(OSError):
        stamp_path(cache_dir, identity(spec)).unlink()


def up_to_date(spec: Path, cache_dir: Path, out_dir: Path, *, env: Mapping[str, str],
               today: datetime.date) -> list[tuple[str, bool]] | None:
    """The lines a null build of ``spec`` prints, if its stamp still holds in every respect; else None."""
    ident = identity(spec)
    stamp = read_json(stamp_path(cache_dir, ident))
    try:
        if not isinstance(stamp, dict) or stamp.get("format") != FORMAT:
            return None
        if not inputs_hold(stamp["inputs"], ident):
            return None
        if stamp["context"] != _context(ident["root"], cache_dir, out_dir, env, today):
            return None
        if any(stat_of(path) != stat for path, stat in stamp["outputs"]):
            return None
        if not _lock_free(cache_dir):  # a build is running: wait for it on the full path
            return None
        if stamp["cache_state"] != cache_state(cache_dir):
            return None
        return [(str(text), bool(always)) for text, always in stamp["lines"]]
    except (KeyError, TypeError, ValueError):
        return None


def _lock_free(cache_dir: Path) -> bool:
    """Whether no build holds the cache's lock right now (taken and released at once)."""
    try:
        fd = os.open(cache_dir / "lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held (EAGAIN), or locks unsupported here: the full path decides
    finally:
        os.close(fd)  # closing releases the lock
    return True
