"""Where each clip lands in the assembled master, and the text files derived from that: SRT
subtitles and ffmetadata chapters. Pure: pieces in, times and strings out.

Times follow the pieces' joinable audio spans (``media.aac_span``), which is exactly where
the stream-copy concat places them, so subtitles and chapters line up with the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .media import aac_span
from .transitions import BlendPiece, CopyPiece, Piece


@dataclass(frozen=True)
class Window:
    """A clip's visible span in the master, in seconds (it may overlap a neighbour's in a crossfade)."""

    start: Fraction
    end: Fraction


def piece_starts(pieces: Sequence[Piece], fps: int, rate: int) -> list[Fraction]:
    """Start time of each piece in the master, plus the master's end as the last element."""
    t = Fraction(0)
    starts = []
    for p in pieces:
        starts.append(t)
        t += Fraction(aac_span(p.frames, Fraction(fps), rate), rate)
    return starts + [t]


def clip_windows(pieces: Sequence[Piece], clip_count: int, fps: int, rate: int) -> list[Window]:
    """Return each clip's window in the master, from the pieces that show it."""
    starts = piece_starts(pieces, fps, rate)
    first: dict[int, Fraction] = {}
    last: dict[int, Fraction] = {}

    def see(clip: int, a: Fraction, b: Fraction) -> None:
        first[clip] = min(first.get(clip, a), a)
        last[clip] = max(last.get(clip, b), b)

    for p, t in zip(pieces, starts, strict=False):
        if isinstance(p, CopyPiece):
            see(p.clip, t, t + Fraction(p.frames, fps))
        elif isinstance(p, BlendPiece):
            if p.a is not None:
                see(p.a, t, t + Fraction(p.a_frames, fps))
            if p.b is not None:
                b_start = t if p.a is None else t + Fraction(p.a_frames - p.overlap, fps)
                see(p.b, b_start, b_start + Fraction(p.b_end, fps))
    missing = [i for i in range(clip_count) if i not in first]
    if missing:
        raise ValueError(f"clips {missing} appear in no piece")
    return [Window(first[i], last[i]) for i in range(clip_count)]


def cut_windows(frames: Sequence[int], fps: int, rate: int) -> list[Window]:
    """Windows for a plain cut-only sequence of conformed clips (each its own piece)."""
    return clip_windows([CopyPiece(i, 0, n) for i, n in enumerate(frames)], len(frames), fps, rate)


@dataclass(frozen=True)
class Cue:
    """One subtitle: text shown from ``start`` to ``end`` seconds."""

    start: Fraction
    end: Fraction
    text: str


def _stamp(t: Fraction) -> str:
    ms = round(t * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt(cues: Sequence[Cue]) -> str:
    """Render cues as SubRip text (1-based numbering, ``HH:MM:SS,mmm`` stamps, blank-line separated)."""
    blocks = []
    for i, cue in enumerate(sorted(cues, key=lambda c: c.start), start=1):
        text = "\n".join(line.strip() for line in cue.text.strip().splitlines() if line.strip())
        blocks.append(f"{i}\n{_stamp(cue.start)} --> {_stamp(cue.end)}\n{text}\n")
    return "\n".join(blocks)


def shot_cues(windows: Sequence[Window], subtitles: Sequence[str | Sequence[Sequence[Any]] | None]) -> list[Cue]:
    """Cues for each clip: its subtitle line shown for the clip's window, or its timed lines.

    A clip's subtitle is either a text (shown for the whole window) or ``[start, end, text]``
    cues in seconds from the window's start (a shot's dialogue), kept inside the window.
    Windows that overlap in a crossfade are split at the overlap's middle so two cues never
    show at once.
    """
    cues = []
    for i, (w, text) in enumerate(zip(windows, subtitles, strict=False)):
        if not text:
            continue
        start, end = w.start, w.end
        if i > 0 and windows[i - 1].end > start:
            start = (start + windows[i - 1].end) / 2
        if i + 1 < len(windows) and windows[i + 1].start < end:
            end = (end + windows[i + 1].start) / 2
        if isinstance(text, str):
            cues.append(Cue(start, end, text))
            continue
        for cue in text:  # [start, end, text]
            cue_start = max(start, w.start + Fraction(str(cue[0])))
            cue_end = min(end, w.start + Fraction(str(cue[1])))
            if cue_end > cue_start:
                cues.append(Cue(cue_start, cue_end, str(cue[2])))
    return cues


@dataclass(frozen=True)
class Chapter:
    """A named span of the master (one per sequence)."""

    title: str
    start: Fraction
    end: Fraction


def ffmetadata(chapters: Sequence[Chapter], title: str = "") -> str:
    """Render chapters in ffmpeg's metadata file format (millisecond time base)."""

    def esc(text: str) -> str:
        # ffmetadata escapes '=', ';', '#', '\\' and newlines with a backslash.
        for ch in ("\\", "=", ";", "#", "\n"):
            text = text.replace(ch, "\\" + ch)
        return text

    lines = [";FFMETADATA1"]
    if title:
        lines.append(f"title={esc(title)}")
    for ch in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(ch.start * 1000)}",
                  f"END={round(ch.end * 1000)}", f"title={esc(ch.title)}"]
    return "\n".join(lines) + "\n"
