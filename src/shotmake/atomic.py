"""Atomic file writes: every file shotmake writes goes through here.

A write goes to a *new* temp file beside the target (``tempfile.mkstemp``: ``O_CREAT|O_EXCL``,
so an existing file or a planted symlink at that name is never opened), is fsynced, and is
renamed over the target. ``rename`` replaces a symlink at the target instead of following it,
so a symlink committed at ``episodes/pilot.lock`` or ``build/pilot.mp4`` cannot make shotmake
write a file outside the project; and a reader sees the old file or the new one, never half.

Temp files are named ``.<target>.<random>.tmp``; a writer killed before its rename leaves
one behind, which ``sweep`` removes (the output directory does so before each write).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
#: What ``open()`` would give a new file under the process umask (read once, at import).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: A new file as the user's umask makes it (outputs, lock files); pass 0o600 for private ones.
DEFAULT_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def _replacing(dest: Path, *, mode: int | None, durable: bool) -> Iterator[BinaryIO]:
    """A fresh temp file beside ``dest``, renamed over it when the block ends without error.

    The one place that creates, flushes, fsyncs, renames and cleans up: ``dest`` is whole or
    untouched, and a temp file never outlives a failed write.
    """
    dest = Path(dest)
    import tempfile  # here: reading (plan, a null build) imports this module but writes nothing

    fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fchmod(out.fileno(), DEFAULT_MODE if mode is None else mode)
            if durable:
                os.fsync(out.fileno())
        os.replace(temp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        fsync_dir(dest.parent)


def write_chunks(dest: Path, chunks: Iterable[bytes], *, mode: int | None = None, durable: bool = True) -> int:
    """Write ``chunks`` to ``dest`` atomically; return the bytes written.

    ``dest`` is either whole or untouched: if writing or the iterable raises (a reset, a short
    download), the temp file is removed and the error goes on. ``mode`` defaults to what a new
    file gets under the umask; ``durable`` fsyncs the file and its folder (skip it only for
    files whose loss costs a recomputation, never a payment).
    """
    written = 0
    with _replacing(dest, mode=mode, durable=durable) as out:
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
    return written


def write_bytes(dest: Path, data: bytes, *, mode: int | None = None, durable: bool = True) -> int:
    """Write ``data`` to ``dest`` atomically (see ``write_chunks``)."""
    return write_chunks(dest, [data], mode=mode, durable=durable)


def write_text(dest: Path, text: str, *, mode: int | None = None, durable: bool = True) -> int:
    """Write ``text`` as UTF-8 to ``dest`` atomically (see ``write_chunks``)."""
    return write_chunks(dest, [text.encode("utf-8")], mode=mode, durable=durable)


def copy_file(source: str | Path, dest: Path, *, mode: int | None = None) -> int:
    """Copy ``source`` to ``dest`` atomically: an independent file, never a link to ``source``.

    The kernel copies (``copy_file_range``: a reflink where the filesystem shares extents) when
    it can, else the bytes go through user space.
    """
    with open(source, "rb") as src, _replacing(dest, mode=mode, durable=True) as out:
        size = os.fstat(src.fileno()).st_size
        if not _kernel_copy(src.fileno(), out.fileno(), size):
            import shutil

            src.seek(0)
            out.seek(0)
            out.truncate()
            shutil.copyfileobj(src, out, CHUNK)
    return size


def _kernel_copy(src: int, dst: int, size: int) -> bool:
    """Copy with ``copy_file_range`` (Linux); False when the kernel or filesystem cannot."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None:
        return False
    done = 0
    try:
        while done < size:
            sent = copy_range(src, dst, size - done)
            if sent == 0:
                break
            done += sent
    except OSError:
        return False
    return done == size


def sweep(dest: Path) -> None:
    """Remove temp files a killed writer of ``dest`` left beside it (regular files only)."""
    leftover = re.compile(rf"\.{re.escape(dest.name)}\.[A-Za-z0-9_]+\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(dest.parent):
            if leftover.fullmatch(entry.name) and stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
