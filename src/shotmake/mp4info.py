"""Read an MP4's length and track kinds from its box headers, without starting ffmpeg.

Every remote clip is checked before the cache keeps it (``verify.py``). Starting ffmpeg to
probe costs ~20 ms of CPU per file, which at 50 jobs a wave is what separates a dispatch
from its ideal time; the boxes that answer (``moov/mvhd`` for the length, each
``trak/mdia/hdlr`` for video or sound) sit in the first kilobytes of a faststart file, or are
found by skipping from box header to box header. Anything unusual (fragmented files, no
``moov``, a malformed box) returns None and the caller asks ffmpeg.

    facts = read(Path("clip.mp4"))   # Mp4Facts(seconds=8.0, video=True, audio=True) or None
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: A ``moov`` box larger than this is not read into memory (real ones are tens of kilobytes).
MAX_MOOV = 16 * 1024 * 1024


@dataclass(frozen=True)
class Mp4Facts:
    """What the box headers say: the movie's length in seconds and which track kinds it has."""

    seconds: float
    video: bool
    audio: bool


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """``(type, payload start, payload end)`` of the boxes in ``data[start:end]``; raises ValueError."""
    end = len(data) if end is None else end
    found = []
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ValueError("malformed box")
        found.append((kind, at + header, at + size))
        at += size
    return found


def _find_moov(handle: BinaryIO, length: int) -> bytes | None:
    """The payload of the top-level ``moov`` box, seeking over the others (``mdat`` is not read)."""
    at = 0
    while at + 8 <= length:
        handle.seek(at)
        head = handle.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1:
            if len(head) < 16:
                return None
            (size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        elif size == 0:
            size = length - at
        if size < header or at + size > length:
            return None
        if kind == b"moov":
            if size - header > MAX_MOOV:
                return None
            handle.seek(at + header)
            payload = handle.read(size - header)
            return payload if len(payload) == size - header else None
        at += size
    return None


def read(path: str | Path) -> Mp4Facts | None:
    """The facts of an MP4 (or MOV) file, or None when its boxes do not answer plainly."""
    try:
        with open(path, "rb") as handle:
            length = os.fstat(handle.fileno()).st_size
            if handle.read(8)[4:8] != b"ftyp":
                return None
            moov = _find_moov(handle, length)
    except OSError:
        return None
    if moov is None:
        return None
    try:
        return _parse_moov(moov)
    except (ValueError, struct.error):
        return None


def _parse_moov(moov: bytes) -> Mp4Facts | None:
    seconds = None
    handlers = set()
    for kind, start, end in _boxes(moov):
        if kind == b"mvhd":
            version = moov[start]
            if version == 1:
                timescale, duration = struct.unpack_from(">IQ", moov, start + 20)
            else:
                timescale, duration = struct.unpack_from(">II", moov, start + 12)
            if timescale and duration not in (0, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
                seconds = duration / timescale
        elif kind == b"trak":
            for mdia, m_start, m_end in _boxes(moov, start, end):
                if mdia != b"mdia":
                    continue
                for hdlr, h_start, _ in _boxes(moov, m_start, m_end):
                    if hdlr == b"hdlr":
                        handlers.add(moov[h_start + 8:h_start + 12])
    if seconds is None:  # fragmented, or a length the header does not give: ask ffmpeg
        return None
    return Mp4Facts(seconds=seconds, video=b"vide" in handlers, audio=b"soun" in handlers)
