"""Transitions that re-encode only the footage around each cut.

A sequence of conformed clips is cut into *pieces*: stream-copied runs between keyframes, and
short re-encoded pieces that hold each transition (crossfade, dip to black, fade in/out).
``plan_pieces`` is pure (frame counts and keyframe lists in, pieces out), so the planner can
make each piece a cached node; ``render_piece`` runs one; ``assemble.concat`` joins them.

For a crossfade of ``d`` frames between A (``n`` frames) and B, the re-encoded piece runs from
A's last keyframe at or before ``n - d`` to B's first keyframe at or after ``d``: at most
``d + 2 * gop`` frames, whatever the clips' length.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from .conform import DeliveryFormat, segment
from .errors import MediaError
from .media import AAC_FRAME, aac_span, decode_counts, open_input, run
from .media import ffmpeg_python as ff

TransitionKind = Literal["cut", "crossfade", "dip"]


@dataclass(frozen=True)
class Transition:
    """How clip i hands over to clip i+1: a hard cut, a crossfade, or a dip through black."""

    kind: TransitionKind = "cut"
    duration: float = 0.0


@dataclass(frozen=True)
class ClipFacts:
    """What planning needs to know about a conformed clip."""

    frames: int
    keyframes: tuple[int, ...]


@dataclass(frozen=True)
class CopyPiece:
    """Frames [start, end) of clip ``clip``, stream-copied."""

    clip: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class BlendPiece:
    """A re-encoded piece: clip ``a`` from ``a_start`` blended over ``overlap`` frames into clip
    ``b`` up to ``b_end``. ``b`` is None for a fade-out at the sequence end, ``a`` is None for a
    fade-in at its start (then ``a_start`` is unused)."""

    a: int | None
    a_start: int
    a_frames: int
    b: int | None
    b_end: int
    overlap: int
    kind: str

    @property
    def frames(self) -> int:
        if self.a is None or self.b is None:
            return self.a_frames if self.b is None else self.b_end
        return self.a_frames + self.b_end - self.overlap


Piece = CopyPiece | BlendPiece


def _floor_key(keys: Sequence[int], limit: int, floor: int) -> int:
    best = max((k for k in keys if floor <= k <= limit), default=None)
    if best is None:
        raise MediaError(f"no keyframe between frames {floor} and {limit}: the clip is too short for its transitions")
    return best


def _ceil_key(keys: Sequence[int], limit: int, frames: int) -> int:
    return min((k for k in keys if limit <= k < frames), default=frames)


def plan_pieces(clips: Sequence[ClipFacts], transitions: Sequence[Transition], fps: int,
                fade_in: float = 0.0, fade_out: float = 0.0) -> list[Piece]:
    """Cut a sequence into copied and re-encoded pieces. ``transitions[i]`` joins clip i and i+1."""
    if len(transitions) != max(0, len(clips) - 1):
        raise ValueError("need exactly one transition between each pair of clips")
    pieces: list[Piece] = []
    head = 0  # first frame of the current clip not yet covered by a piece
    if fade_in > 0:
        first = clips[0]
        d = max(1, round(fade_in * fps))
        head = _ceil_key(first.keyframes, d, first.frames)
        pieces.append(BlendPiece(a=None, a_start=0, a_frames=0, b=0, b_end=head, overlap=d, kind="fade-in"))
    for i, clip in enumerate(clips):
        t = transitions[i] if i < len(transitions) else None
        if t is None or t.kind == "cut" or t.duration <= 0:
            end = clip.frames
            tail_piece: BlendPiece | None = None
            if i == len(clips) - 1 and fade_out > 0:
                d = max(1, round(fade_out * fps))
                end = _floor_key(clip.keyframes, clip.frames - d, head)
                tail_piece = BlendPiece(a=i, a_start=end, a_frames=clip.frames - end, b=None, b_end=0,
                                        overlap=d, kind="fade-out")
            if end > head:
                pieces.append(CopyPiece(i, head, end))
            if tail_piece is not None:
                pieces.append(tail_piece)
            head = 0
            continue
        nxt = clips[i + 1]
        d = max(1, round(t.duration * fps))
        if d > min(clip.frames - head, nxt.frames):
            raise MediaError(f"a {t.duration}s {t.kind} is longer than clip {i} or {i + 1}")
        a_start = _floor_key(clip.keyframes, clip.frames - d, head)
        b_end = _ceil_key(nxt.keyframes, d, nxt.frames)
        if a_start > head:
            pieces.append(CopyPiece(i, head, a_start))
        pieces.append(BlendPiece(a=i, a_start=a_start, a_frames=clip.frames - a_start, b=i + 1, b_end=b_end,
                                 overlap=d, kind=t.kind))
        # A long-GOP clip (a copied vendor file) may be swallowed whole by the blend; that is
        # still correct, only slower. A further transition out of it then finds no keyframe.
        head = b_end
    return pieces


def plan_span(clip: ClipFacts, nxt: ClipFacts | None, transition: Transition, overlap_in: int,
              fps: int) -> list[Piece]:
    """The pieces of one *span* of a blended sequence: clip 0's copied frames, then its blend into clip 1.

    The same pieces ``plan_pieces`` cuts there, decided from the two clips alone (the copied run
    of a clip starts at its first keyframe after the blend into it, which depends on that clip
    only), so each span can be a cached node: a one-shot edit re-makes the spans it is in, the
    blend into it and the one out of it. ``overlap_in`` is the blend into clip 0 in frames (0 at
    the sequence's start). Clip indices are local: 0 is this clip, 1 the next.
    """
    head = _ceil_key(clip.keyframes, overlap_in, clip.frames) if overlap_in else 0
    pieces: list[Piece] = []
    if nxt is None or transition.kind == "cut" or transition.duration <= 0:
        if clip.frames > head:
            pieces.append(CopyPiece(0, head, clip.frames))
        return pieces
    d = max(1, round(transition.duration * fps))
    if d > min(clip.frames - head, nxt.frames):
        raise MediaError(f"a {transition.duration}s {transition.kind} is longer than one of the clips it joins")
    a_start = _floor_key(clip.keyframes, clip.frames - d, head)
    if a_start > head:
        pieces.append(CopyPiece(0, head, a_start))
    pieces.append(BlendPiece(a=0, a_start=a_start, a_frames=clip.frames - a_start, b=1,
                             b_end=_ceil_key(nxt.keyframes, d, nxt.frames), overlap=d, kind=transition.kind))
    return pieces


def piece_meta(piece: Piece) -> dict[str, Any]:
    """A piece as JSON (for a span's cache metadata)."""
    if isinstance(piece, CopyPiece):
        return {"copy": [piece.clip, piece.start, piece.end]}
    return {"blend": [piece.a, piece.a_start, piece.a_frames, piece.b, piece.b_end, piece.overlap, piece.kind]}


def piece_from_meta(meta: dict[str, Any], offset: int) -> Piece:
    """The piece ``piece_meta`` wrote, its clip indices moved by ``offset`` (a span's place in its sequence)."""
    if "copy" in meta:
        clip, start, end = meta["copy"]
        return CopyPiece(int(clip) + offset, int(start), int(end))
    a, a_start, a_frames, b, b_end, overlap, kind = meta["blend"]
    return BlendPiece(a=None if a is None else int(a) + offset, a_start=int(a_start), a_frames=int(a_frames),
                      b=None if b is None else int(b) + offset, b_end=int(b_end), overlap=int(overlap), kind=str(kind))


def _joinable_audio(stream: Any, frames: int, fmt: DeliveryFormat) -> Any:
    span = aac_span(frames, Fraction(fmt.fps), fmt.sample_rate)
    return (stream.filter("aformat", sample_fmts="fltp", channel_layouts=fmt.layout).filter("apad")
            .filter("atrim", start_sample=AAC_FRAME, end_sample=span).filter("asetpts", "PTS-STARTPTS"))


def blend_args(piece: BlendPiece, a: Path | None, b: Path | None, dest: Path, fmt: DeliveryFormat) -> list[str]:
    """Build the argv that re-encodes one transition piece."""
    fps = fmt.fps
    rate = fmt.sample_rate
    seconds = Fraction(piece.overlap, fps)
    v: Any
    au: Any
    if piece.kind == "fade-in":
        assert b is not None
        src = open_input(b)
        v = src.video.trim(end_frame=piece.b_end).setpts("PTS-STARTPTS").filter("fade", t="in", nb_frames=piece.overlap)
        au = src.audio.filter("atrim", end_sample=piece.b_end * rate // fps)
        au = au.filter("afade", t="in", d=float(seconds))
    elif piece.kind == "fade-out":
        assert a is not None
        src = open_input(a, ss=f"{piece.a_start / fps:.6f}")
        # fade reaches black at start + nb_frames: one frame shorter lands it on the final frame.
        v = src.video.filter("fade", t="out", start_frame=piece.a_frames - piece.overlap,
                             nb_frames=max(1, piece.overlap - 1))
        au = src.audio.filter("atrim", end_sample=piece.a_frames * rate // fps).filter(
            "afade", t="out", st=float(Fraction(piece.a_frames - piece.overlap, fps)), d=float(seconds))
    else:
        assert a is not None and b is not None
        sa = open_input(a, ss=f"{piece.a_start / fps:.6f}")
        sb = open_input(b)
        va = sa.video.filter("settb", f"1/{fmt.timescale}")
        vb = sb.video.trim(end_frame=piece.b_end).setpts("PTS-STARTPTS").filter("settb", f"1/{fmt.timescale}")
        v = ff.filter([va, vb], "xfade", transition="fadeblack" if piece.kind == "dip" else "fade",
                      duration=float(seconds), offset=float(Fraction(piece.a_frames - piece.overlap, fps)))
        # Cut A's audio at its last frame (joinable tracks run on up to 21 ms) so the audio
        # overlap lines up with the picture's.
        aa = sa.audio.filter("atrim", end_sample=piece.a_frames * rate // fps)
        ab = sb.audio.filter("atrim", end_sample=piece.b_end * rate // fps)
        au = ff.filter([aa, ab], "acrossfade", ns=piece.overlap * rate // fps, c1="tri", c2="tri")
    v = v.filter("tpad", stop_mode="clone", stop=2).trim(end_frame=piece.frames).setpts("PTS-STARTPTS")
    v = v.filter("format", fmt.pix_fmt)
    gop = max(1, round(fmt.gop * fps))
    out = ff.output(v, _joinable_audio(au, piece.frames, fmt), str(dest), **{
        "c:v": "libx264", "preset": fmt.preset, "crf": fmt.crf, "profile:v": fmt.profile, "pix_fmt": fmt.pix_fmt,
        "g": gop, "keyint_min": gop, "sc_threshold": 0, "r": fps,
        "c:a": "aac", "b:a": fmt.audio_bitrate, "ar": rate, "ac": fmt.channels,
        "bsf:a": f"setts=ts=TS+{AAC_FRAME}", "video_track_timescale": fmt.timescale,
        "movflags": "+faststart", "format": "mp4"})
    return list(out.get_args())


def render_piece(piece: Piece, clips: Sequence[Path], dest: Path, fmt: DeliveryFormat) -> None:
    """Write one piece: a stream copy, or a re-encode of a transition."""
    if isinstance(piece, CopyPiece):
        src = clips[piece.clip]
        if piece.start == 0 and piece.end == _frames_of(src):
            shutil.copyfile(src, dest)  # a whole conformed clip is already a joinable piece
        else:
            segment(src, dest, piece.start, piece.end, fmt)
        return
    a = clips[piece.a] if piece.a is not None else None
    b = clips[piece.b] if piece.b is not None else None
    run(blend_args(piece, a, b, dest, fmt))


def _frames_of(path: Path) -> int:
    return decode_counts(path)[0]


def encoded_frames(pieces: Sequence[Piece]) -> int:
    """Frames of output that were re-encoded (the cost of the transitions)."""
    return sum(p.frames for p in pieces if isinstance(p, BlendPiece))
