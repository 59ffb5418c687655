"""Assembly steps that turn rendered clips into an episode: concatenation and continuity frames.

Each function is one cacheable step: inputs are files, the output is one file, nothing else
is written beside it (scratch files live in a private temporary directory). argv is built
with ffmpeg-python and run through ``media.run``.

The concat fast path stream-copies: it is only correct when every piece already has the same
codecs and parameters *and* joinable audio (see ``media.aac_span``); the local provider's
clips and conformed clips do, vendor files do not until conformed.

What is re-encoded is cut as small as the edit: a blended sequence is joined from *spans* (a
shot's copied frames and its blend into the next, each a node), a rendition from per-shot
*pieces* (``renditions``), and the master's loudness is added up from per-shot gating blocks
(``loudness``) and applied as one gain to the audio alone.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from . import atomic
from .conform import DeliveryFormat, conform
from .deliver import Leveled, LoudnessTarget, Overlay, VoiceOver, add_chapters, mix_audio, poster
from .errors import MediaError
from .formats import Look
from .loudness import Blocks, gain, integrated
from .loudness import measure as measure_blocks
from .media import INPUT_PROTOCOLS, decode_frame, keyframes, last_frame, probe, run
from .media import ffmpeg_python as ff
from .model import Artifact, Node
from .renditions import cue_of, finish
from .renditions import render_piece as render_look_piece
from .timeline import Chapter, Cue, Window, clip_windows, ffmetadata, piece_starts, shot_cues, srt
from .transitions import (
    ClipFacts,
    CopyPiece,
    Piece,
    Transition,
    encoded_frames,
    piece_from_meta,
    piece_meta,
    plan_span,
    render_piece,
)

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
    # The list is ours (absolute paths of cached pieces): safe=0 allows absolute paths, and
    # the whitelist keeps every piece a local file.
    stream = ff.input(f"file:{list_file}", f="concat", safe=0, protocol_whitelist=INPUT_PROTOCOLS)
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
        _check_joins(err, dest)


def _check_joins(err: str, dest: Path) -> None:
    """Raise ``MediaError`` when ffmpeg's warnings say a stream-copied join broke timestamps."""
    bad = [ln for ln in err.splitlines() if any(w in ln for w in _TIMESTAMP_WARNINGS)]
    if bad:
        raise MediaError(f"concatenating into {dest} broke timestamps ({len(bad)} warnings; "
                         f"conform the pieces first): {bad[0].strip()}")


def png_args(width: int, height: int, dest: Path) -> list[str]:
    """Build the argv that encodes one raw RGB24 frame arriving on stdin as a PNG at ``dest``."""
    stream = ff.input("pipe:0", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}")
    out = ff.output(stream, str(dest), vframes=1, vcodec="png", format="image2", update=1)
    return list(out.get_args())


def extract_last_frame(clip: Path, dest_png: Path, trim_out: float | None = None) -> None:
    """Write the last frame a viewer sees of ``clip`` as a PNG (the ``after:`` continuity image).

    That is the final decoded frame, or with ``trim_out`` (seconds) the last frame the trim
    keeps: frame ``round(trim_out * fps) - 1``, the same count ``conform.trim_frames`` keeps.
    """
    found = None
    if trim_out is not None:
        info = probe(clip)
        if info.video is None:
            raise MediaError(f"{clip} has no video stream")
        kept = round(trim_out * info.video.fps)
        try:
            found = decode_frame(clip, max(0, kept - 1))
        except MediaError:  # the clip ends before trim.out: its last frame is the last one seen
            found = None
    width, height, pixels = found or last_frame(clip)
    run(png_args(width, height, dest_png), stdin=pixels)


# --------------------------------------------------------------------------------------------
# Assembly nodes: how each planned kind turns its input files into its output file.


def _fmt(manifest: Mapping[str, Any]) -> DeliveryFormat:
    return DeliveryFormat(**manifest["format"])


def _fraction(text: str) -> Fraction:
    return Fraction(text)


def run_assembly(node: Node, inputs: Sequence[Artifact], dest: Path,
                 labels: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build an assembly node (frame, conform, sequence, piece, episode, subtitles, poster, rendition).

    ``inputs`` are the artifacts of the node's pieces in order; the return value is kept as
    the artifact's cache metadata (frame counts, timeline windows, loudness blocks) for
    downstream nodes.
    """
    m = node.manifest
    paths = [Path(a.path) for a in inputs]
    labels = labels or node.labels
    if node.kind == "frame":
        extract_last_frame(paths[0], dest, m.get("trim_out"))
        return {}
    if node.kind == "conform":
        trim_in, trim_out = m["trim"]
        fmt = _fmt(m)
        result = conform(paths[0], dest, fmt, trim_in, trim_out, reencode=m["reencode"])
        # Measured here, once per shot: the master adds the blocks up instead of reading the programme.
        return {**result.meta(), "loudness": measure_blocks(dest, fmt.sample_rate).meta()}
    if node.kind == "sequence":
        return _sequence(paths, [a.meta for a in inputs], dest, _fmt(m), m["transition"])
    if node.kind == "span":
        return _span(m, paths, [a.meta for a in inputs], dest)
    if node.kind == "piece":
        return _piece(m, paths[0], inputs[0].meta, dest, labels)
    if node.kind == "master" or (node.kind == "episode" and "master" not in m):
        return _master(node, paths, [a.meta for a in inputs], dest, labels)
    if node.kind in ("episode", "rendition"):  # a look: its sequences under the master's sound
        finish(paths[0], paths[1:], dest)
        return {key: inputs[0].meta[key] for key in ("seconds", "chapters") if key in inputs[0].meta}
    if node.kind == "subtitles":
        fmt = _fmt(m)
        atomic.write_text(dest, srt(_cues([a.meta for a in inputs], m["text"], fmt)))
        return {}
    if node.kind == "poster":
        poster(paths[0], dest, m.get("at"))
        return {}
    raise MediaError(f"{node.id}: no assembly recipe for node kind '{node.kind}'")


def _piece(m: Mapping[str, Any], src: Path, meta: Mapping[str, Any], dest: Path,
           labels: Mapping[str, Any]) -> dict[str, Any]:
    """One conformed shot in a look (cropped, scaled, its subtitle drawn)."""
    fmt = _fmt(m)
    look = Look(m["look"], (int(m["size"][0]), int(m["size"][1])), m["crop"], int(m["crf"]))
    frames = int(meta["frames"])
    cue = cue_of(m, frames, fmt.fps)
    if cue is None:
        return render_look_piece(src, dest, look, fmt, frames, None)
    with tempfile.TemporaryDirectory(prefix="shotmake-piece-") as tmp:
        overlay = _overlay(m, [cue], look.size, labels, Path(tmp))
        return render_look_piece(src, dest, look, fmt, frames, (overlay.script, overlay.fonts_dir))


def _overlay(m: Mapping[str, Any], cues: Sequence[Cue], size: tuple[int, int],
             labels: Mapping[str, Any], tmp: Path) -> Overlay:
    """``cues`` laid out for a ``size`` frame, with the font manifest ``m`` names."""
    from .subtitles import FontError, ass_script, bundled_font, bundled_id, family

    fonts = tmp / "fonts"
    fonts.mkdir()
    if not labels.get("font"):  # the bundled font, keyed by its package version
        found = bundled_font()
        if found is None or m["font"] != bundled_id():
            raise MediaError(f"the subtitle font {m['font']} is not the one installed ({bundled_id()}): "
                             "plan the build again, or set delivery.subtitles.font to a font file")
        font = fonts / found.name
        font.symlink_to(found)
    else:
        font = keyed_copy(Path(labels["font"]), m["font"], fonts / "subtitles")
    try:
        name = family(font, "".join(c.text for c in cues))
    except FontError as exc:
        raise MediaError(str(exc)) from exc
    script = tmp / "subtitles.ass"
    script.write_text(ass_script(cues, size[0], size[1], name), encoding="utf-8")
    return Overlay(script, fonts)


def _sequence(clips: Sequence[Path], metas: Sequence[Mapping[str, Any]], dest: Path, fmt: DeliveryFormat,
              transition: Sequence[Any]) -> dict[str, Any]:
    """Join a sequence by stream copy: its shots at cuts, or its spans (``_span``) when blended."""
    kind, seconds = transition[0], float(transition[1])
    if kind == "cut" or seconds <= 0:
        pieces: list[Piece] = [CopyPiece(i, 0, int(meta["frames"])) for i, meta in enumerate(metas)]
        concat(clips, dest, strict=True)
    else:  # each span holds its shot's copied frames and its blend into the next shot
        pieces = [piece_from_meta(p, i) for i, meta in enumerate(metas) for p in meta["pieces"]]
        concat([clip for clip, meta in zip(clips, metas, strict=True) if meta["pieces"]], dest, strict=True)
    windows = clip_windows(pieces, len(clips), fmt.fps, fmt.sample_rate)
    total = piece_starts(pieces, fmt.fps, fmt.sample_rate)[-1]
    meta: dict[str, Any] = {
        "seconds": str(total),
        "windows": [[str(w.start), str(w.end)] for w in windows],
        "encoded_frames": encoded_frames(pieces),
        "copied_frames": sum(p.frames for p in pieces if isinstance(p, CopyPiece)),
    }
    if all("loudness" in m for m in metas):  # the master's (a look's pieces carry no sound of their own)
        # The sound of a sequence is its shots' (or spans') end to end: add up their blocks.
        meta["loudness"] = Blocks.join(Blocks.from_meta(m["loudness"]) for m in metas).meta()
    return meta


def _span(m: Mapping[str, Any], clips: Sequence[Path], metas: Sequence[Mapping[str, Any]],
          dest: Path) -> dict[str, Any]:
    """One shot of a blended sequence: its copied frames, then its blend into the next shot."""
    fmt = _fmt(m)
    facts = [ClipFacts(int(meta["frames"]), tuple(keyframes(path))) for path, meta in zip(clips, metas, strict=True)]
    kind, seconds = m["transition"]
    pieces = plan_span(facts[0], facts[1] if len(facts) > 1 else None, Transition(kind, float(seconds)),
                       int(m["overlap_in"]), fmt.fps)
    out: dict[str, Any] = {"pieces": [piece_meta(p) for p in pieces], "frames": sum(p.frames for p in pieces)}
    if not pieces:  # swallowed whole by the blend into it: nothing of its own to show or hear
        dest.write_bytes(b"")
        return {**out, "loudness": Blocks(()).meta()} if "loudness" in metas[0] else out
    with tempfile.TemporaryDirectory(prefix="shotmake-span-") as tmp:
        parts = []
        for i, piece in enumerate(pieces):
            part = Path(tmp) / f"piece{i}.mp4"
            render_piece(piece, clips, part, fmt)
            parts.append(part)
        concat(parts, dest, strict=True)
    if "loudness" in metas[0]:  # a master's span: its sound, measured once, where it is made
        out["loudness"] = measure_blocks(dest, fmt.sample_rate).meta()
    return out


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


def keyed_copy(path: Path, digest: str, stem: Path) -> Path:
    """Copy a project file to ``stem`` + its extension, if its bytes are still those in the key.

    The key holds the digest taken when the plan was made; reading the file again later could
    mix in bytes no key covers (an edit during the build). The copy is what ffmpeg reads.
    """
    import hashlib

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror}") from exc
    if hashlib.sha256(data).hexdigest() != digest:
        raise MediaError(f"{path} changed during the build; run the build again")
    dest = stem.with_suffix(path.suffix.lower())
    dest.write_bytes(data)
    return dest


def master_args(list_file: Path, chapters_file: Path, dest: Path, gain_db: float | None, samples: int,
                fmt: DeliveryFormat) -> list[str]:
    """Build the one-pass master argv: sequences joined by stream copy, chapters, one audio gain.

    The picture is always copied; the sound is copied too unless a gain is to be applied.
    """
    argv = ["-f", "concat", "-safe", "0", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"file:{list_file}",
            "-f", "ffmetadata", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"file:{chapters_file}",
            "-map", "0:v:0", "-map", "0:a:0", "-map_metadata", "1", "-map_chapters", "1", "-c:v", "copy"]
    if gain_db is None:
        argv += ["-c:a", "copy"]
    else:  # exactly the programme's samples, louder or quieter
        argv += ["-af", f"volume={gain_db}dB:precision=double,atrim=end_sample={samples}",
                 "-c:a", "aac", "-b:a", fmt.audio_bitrate, "-ar", str(fmt.sample_rate)]
    return [*argv, "-movflags", "+faststart", "-f", "mp4", str(dest)]


def _master(node: Node, sequences: Sequence[Path], metas: Sequence[Mapping[str, Any]], dest: Path,
            labels: Mapping[str, Any]) -> dict[str, Any]:
    """Join the sequences, mix the audio and bring it to its loudness, add chapters.

    Without music or voice-overs that is one ffmpeg pass over the sequences: the picture
    copied, the sound given one gain worked out from the shots' gating blocks (no measuring).
    """
    m = node.manifest
    fmt = _fmt(m)
    offsets = _offsets(metas)
    samples = int(offsets[-1] * fmt.sample_rate)
    chapters = [Chapter(title, offsets[i], offsets[i + 1]) for i, title in enumerate(m["chapters"])]
    loudness = LoudnessTarget(integrated=float(m["loudness"])) if m.get("loudness") is not None else None
    # The programme's gating blocks, from its sequences' (made from their shots'): no re-reading.
    blocks = (Blocks.join(Blocks.from_meta(meta["loudness"]) for meta in metas)
              if all("loudness" in meta for meta in metas) else None)
    leveled: Leveled | None = None
    with tempfile.TemporaryDirectory(prefix="shotmake-master-") as tmp:
        if not m["voiceovers"] and not m.get("music") and (loudness is None or blocks is not None):
            gain_db = None
            measured = integrated(blocks.levels) if loudness is not None and blocks is not None else None
            if loudness is not None and blocks is not None and measured is not None:
                leveled = Leveled(measured, gain(measured, blocks.peak, loudness.integrated, loudness.true_peak))
                gain_db = leveled.gain_db or None
            list_file, meta_file = Path(tmp) / "sequences.ffconcat", Path(tmp) / "chapters.ffmeta"
            list_file.write_text(concat_list(sequences), encoding="utf-8")
            meta_file.write_text(ffmetadata(chapters, m.get("title", "")), encoding="utf-8")
            _check_joins(run(master_args(list_file, meta_file, dest, gain_db, samples, fmt)), dest)
        else:
            current = Path(tmp) / "joined.mp4"
            concat(sequences, current, strict=True)
            voices = []
            for n, (i, j, digest) in enumerate(m["voiceovers"]):
                start = offsets[i] + _fraction(metas[i]["windows"][j][0])
                voice = keyed_copy(Path(labels["voice_files"][digest]), digest, Path(tmp) / f"voice{n}")
                voices.append(VoiceOver(voice, float(start)))
            music = keyed_copy(Path(labels["music"]), m["music"], Path(tmp) / "music") if m.get("music") else None
            mixed = Path(tmp) / "mixed.mp4"
            leveled = mix_audio(current, mixed, music=music, voices=voices, music_gain_db=float(m["music_gain_db"]),
                                loudness=loudness, fmt=fmt, samples=samples, blocks=blocks)
            add_chapters(mixed, dest, chapters, m.get("title", ""))
    meta: dict[str, Any] = {"seconds": str(offsets[-1]), "chapters": len(chapters)}
    if leveled is not None:
        meta["loudness_in"] = round(leveled.integrated, 3)
        meta["gain_db"] = leveled.gain_db
    return meta
