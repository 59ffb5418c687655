"""Assembly steps that turn rendered clips into an episode: concatenation and continuity frames.

Each function is one cacheable step: inputs are files, the output is one file, nothing else
is written beside it (scratch files live in a private temporary directory). argv is built
with ffmpeg-python and run through ``media.run``.

The concat fast path stream-copies: it is only correct when every piece already has the same
codecs and parameters *and* joinable audio (see ``media.aac_span``); the local provider's
clips and conformed clips do, vendor files do not until conformed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import atomic
from .conform import DeliveryFormat, conform
from .deliver import LoudnessTarget, VoiceOver, add_chapters, burn_subtitles, mix_audio, poster, rendition
from .errors import MediaError
from .media import ffmpeg_python as ff
from .media import keyframes, last_frame, run
from .model import Artifact, Node
from .timeline import Chapter, Cue, Window, clip_windows, piece_starts, shot_cues, srt
from .transitions import ClipFacts, CopyPiece, Piece, Transition, encoded_frames, plan_pieces, render_piece

#: Warnings that mean stream-copied timestamps were broken (and audio will drift).
_TIMESTAMP_WARNINGS = ("Non-monotonic DTS", "non monotonically increasing dts", "Queue input is backward")


def concat_list(pieces: Sequence[Path]) -> str:
    """Return a concat-demuxer list for ``pieces`` (absolute paths, quoted for its syntax).

    In that syntax a path is single-quoted and a quote inside it is written ``'\\''``
    (close, escaped quote, reopen), as in a POSIX shell.
    """
    lines = ["ffconcat version 1.0"]
    for piece in pieces:
        quoted = str(Path(piece).absolute()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    return "\n".join(lines) + "\n"


def concat_args(list_file: Path, dest: Path) -> list[str]:
    """Build the stream-copy concat argv: every stream of the pieces, MP4 with the index up front."""
    stream = ff.input(str(list_file), f="concat", safe=0)
    out = ff.output(stream, str(dest), c="copy", format="mp4", movflags="+faststart",
                    )
    return list(out.get_args())


def concat(pieces: Sequence[Path], dest: Path, *, strict: bool = False) -> None:
    """Join ``pieces`` end to end into ``dest`` without re-encoding.

    ``strict`` raises ``MediaError`` when ffmpeg had to repair timestamps (pieces that were
    not conformed): the file would play, but its audio would drift at every join.
    """
    if not pieces:
        raise MediaError(f"nothing to concatenate into {dest}")
    with tempfile.TemporaryDirectory(prefix="shotmake-concat-") as tmp:
        list_file = Path(tmp) / "pieces.ffconcat"
        list_file.write_text(concat_list(pieces), encoding="utf-8")
        err = run(concat_args(list_file, dest))
    if strict:
        bad = [ln for ln in err.splitlines() if any(w in ln for w in _TIMESTAMP_WARNINGS)]
        if bad:
            raise MediaError(f"concatenating into {dest} broke timestamps ({len(bad)} warnings; "
                             f"conform the pieces first): {bad[0].strip()}")


def png_args(width: int, height: int, dest: Path) -> list[str]:
    """Build the argv that encodes one raw RGB24 frame arriving on stdin as a PNG at ``dest``."""
    stream = ff.input("pipe:0", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}")
    out = ff.output(stream, str(dest), vframes=1, vcodec="png", format="image2", update=1)
    return list(out.get_args())


def extract_last_frame(clip: Path, dest_png: Path) -> None:
    """Write the final decoded frame of ``clip`` as a PNG (the ``after:`` continuity image)."""
    width, height, pixels = last_frame(clip)
    run(png_args(width, height, dest_png), stdin=pixels)


# --------------------------------------------------------------------------------------------
# Assembly nodes: how each planned kind turns its input files into its output file.


def _fmt(manifest: Mapping[str, Any]) -> DeliveryFormat:
    return DeliveryFormat(**manifest["format"])


def _fraction(text: str) -> Fraction:
    return Fraction(text)


def run_assembly(node: Node, inputs: Sequence[Artifact], dest: Path,
                 labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build an assembly node (frame, conform, sequence, episode, subtitles, poster, rendition).

    ``inputs`` are the artifacts of the node's pieces in order; the return value is kept as
    the artifact's cache metadata (frame counts, timeline windows) for downstream nodes.
    """
    m = node.manifest
    paths = [Path(a.path) for a in inputs]
    if node.kind == "frame":
        extract_last_frame(paths[0], dest)
        return {}
    if node.kind == "conform":
        trim_in, trim_out = m["trim"]
        result = conform(paths[0], dest, _fmt(m), trim_in, trim_out, reencode=m["reencode"])
        return result.meta()
    if node.kind == "sequence":
        return _sequence(paths, [a.meta for a in inputs], dest, _fmt(m), m["transition"])
    if node.kind == "episode":
        return _master(node, paths, [a.meta for a in inputs], dest, labels or node.labels)
    if node.kind == "subtitles":
        fmt = _fmt(m)
        atomic.write_text(dest, srt(_cues([a.meta for a in inputs], m["text"], fmt)))
        return {}
    if node.kind == "poster":
        poster(paths[0], dest, m.get("at"))
        return {}
    if node.kind == "rendition":
        rendition(paths[0], dest, m["rendition"], _fmt(m))
        return {}
    raise MediaError(f"{node.id}: no assembly recipe for node kind '{node.kind}'")


def _sequence(clips: Sequence[Path], metas: Sequence[Mapping[str, Any]], dest: Path, fmt: DeliveryFormat,
              transition: Sequence[Any]) -> dict[str, Any]:
    kind, seconds = transition[0], float(transition[1])
    frames = [int(meta["frames"]) for meta in metas]
    if kind == "cut" or seconds <= 0:
        pieces: list[Piece] = [CopyPiece(i, 0, n) for i, n in enumerate(frames)]
        concat(clips, dest, strict=True)
    else:
        facts = [ClipFacts(n, tuple(keyframes(path))) for n, path in zip(frames, clips, strict=True)]
        pieces = plan_pieces(facts, [Transition(kind, seconds)] * (len(clips) - 1), fmt.fps)
        with tempfile.TemporaryDirectory(prefix="shotmake-seq-") as tmp:
            parts = []
            for i, piece in enumerate(pieces):
                part = Path(tmp) / f"piece{i:04d}.mp4"
                render_piece(piece, clips, part, fmt)
                parts.append(part)
            concat(parts, dest, strict=True)
    windows = clip_windows(pieces, len(clips), fmt.fps, fmt.sample_rate)
    total = piece_starts(pieces, fmt.fps, fmt.sample_rate)[-1]
    return {
        "seconds": str(total),
        "windows": [[str(w.start), str(w.end)] for w in windows],
        "encoded_frames": encoded_frames(pieces),
        "copied_frames": sum(p.frames for p in pieces if isinstance(p, CopyPiece)),
    }


def _offsets(metas: Sequence[Mapping[str, Any]]) -> list[Fraction]:
    starts = [Fraction(0)]
    for meta in metas:
        starts.append(starts[-1] + _fraction(meta["seconds"]))
    return starts


def _cues(metas: Sequence[Mapping[str, Any]], text: Sequence[Sequence[str]], fmt: DeliveryFormat) -> list[Cue]:
    """Subtitle cues on the master's timeline, from each sequence's clip windows."""
    cues: list[Cue] = []
    for offset, meta, lines in zip(_offsets(metas), metas, text, strict=False):
        windows = [Window(offset + _fraction(a), offset + _fraction(b)) for a, b in meta["windows"]]
        cues.extend(shot_cues(windows, list(lines)))
    return cues


def _master(node: Node, sequences: Sequence[Path], metas: Sequence[Mapping[str, Any]], dest: Path,
            labels: Mapping[str, Any]) -> dict[str, Any]:
    """Join the sequences, mix and normalise the audio, burn subtitles if asked, add chapters."""
    m = node.manifest
    fmt = _fmt(m)
    offsets = _offsets(metas)
    with tempfile.TemporaryDirectory(prefix="shotmake-master-") as tmp:
        current = Path(tmp) / "joined.mp4"
        concat(sequences, current, strict=True)
        voices = []
        for i, j, digest in m["voiceovers"]:
            start = offsets[i] + _fraction(metas[i]["windows"][j][0])
            voices.append(VoiceOver(Path(labels["voice_files"][digest]), float(start)))
        music = Path(labels["music"]) if m.get("music") else None
        loudness = LoudnessTarget(integrated=float(m["loudness"])) if m.get("loudness") is not None else None
        measured = None
        if music is not None or voices or loudness is not None:
            mixed = Path(tmp) / "mixed.mp4"
            measured = mix_audio(current, mixed, music=music, voices=voices, music_gain_db=float(m["music_gain_db"]),
                                 loudness=loudness, fmt=fmt)
            current = mixed
        if m.get("burn_subtitles"):
            srt_file = Path(tmp) / "subtitles.srt"
            srt_file.write_text(srt(_cues(metas, m["burn_subtitles"], fmt)), encoding="utf-8")
            burned = Path(tmp) / "burned.mp4"
            burn_subtitles(current, srt_file, burned, fmt)
            current = burned
        chapters = [Chapter(title, offsets[i], offsets[i + 1]) for i, title in enumerate(m["chapters"])]
        add_chapters(current, dest, chapters, m.get("title", ""))
    meta: dict[str, Any] = {"seconds": str(offsets[-1]), "chapters": len(chapters)}
    if measured is not None:
        meta["loudness_in"] = measured.integrated
    return meta
