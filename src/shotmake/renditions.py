"""Renditions and burned subtitles made shot by shot, joined like the master's sequences.

A *look* is a way of showing the master's picture: a vertical crop, a smaller proxy, or the
master itself with subtitles burned in. Each look is built like the master: every conformed
shot becomes a *look piece* (a cached node: its crop, scale and subtitle cue drawn in one
encode), the pieces of a sequence are joined by ``assemble._sequence`` (the same recipe as the
master's sequences, transitions re-encoding only the footage around the cut), and the look's
sequences are joined by stream copy under the master's finished audio and chapters. A one-shot
edit therefore re-encodes that shot's pieces (and the transitions it takes part in), never the
whole programme once per rendition.

Two things keep a look frame- and sample-exact against the master:

* A look piece has the conformed shot's keyframes, no more and no fewer, so a sequence with
  transitions is cut into the same pieces in every look; the pieces keep the shot's joinable
  audio (stream-copied), so the join places every frame at the master's time to the sample.
* The final step takes the video of the look's sequences and the audio of the finished master
  (loudness gain, music and voices applied), so a rendition sounds exactly like the master.

Subtitles are drawn per piece, after the crop and scale, laid out for the look's own frame
(``subtitles.ass_script``), each cue at the shot's own time: from the middle of the crossfade
into the shot to the middle of the one out of it, as the sidecar ``.srt`` shows it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import MediaError
from .formats import DeliveryFormat, Look
from .media import INPUT_PROTOCOLS, input_args, keyframes, open_input, probe, run
from .media import ffmpeg_python as ff
from .timeline import Cue


def piece_cue(text: str, frames: int, fps: int, overlap_in: int, overlap_out: int) -> Cue:
    """A shot's cue on its own clock: from the middle of the blend into it to the middle of the one out.

    ``overlap_in``/``overlap_out`` are the frames the shot shares with its neighbours (0 at a cut),
    which is where ``timeline.shot_cues`` splits two overlapping windows.
    """
    return Cue(Fraction(overlap_in, 2 * fps), Fraction(frames, fps) - Fraction(overlap_out, 2 * fps), text)


def _force_times(keys: Sequence[int], fps: Fraction) -> str:
    # Half a frame early, so rounding never moves a forced keyframe onto the next frame.
    return ",".join("0" if k == 0 else f"{float((Fraction(k) - Fraction(1, 2)) / fps):.6f}" for k in keys)


def piece_args(src: Path, dest: Path, look: Look, master: DeliveryFormat, keys: Sequence[int],
               overlay: tuple[Path, Path] | None) -> list[str]:
    """Build the argv of one look piece: crop, scale, subtitles, the source's keyframes; audio copied."""
    inp = open_input(src)
    video = inp.video
    width, height = look.size
    if look.crop == "vertical":
        # The largest centre crop of ``size``'s shape (the width, or from a taller source the height).
        video = video.filter("crop", f"min(iw,trunc(ih*{width}/{height}/2)*2)",
                             f"min(ih,trunc(iw*{height}/{width}/2)*2)")
    if look.crop is not None or look.size != (master.width, master.height):
        video = video.filter("scale", width, height, flags="lanczos").filter("setsar", 1)
    if overlay is not None:
        script, fonts = overlay
        video = video.filter("ass", filename=str(script), fontsdir=str(fonts))
    video = video.filter("format", master.pix_fmt)
    out = ff.output(video, inp.audio, str(dest), **{
        "c:v": "libx264", "preset": master.preset, "crf": look.crf, "profile:v": master.profile,
        "pix_fmt": master.pix_fmt,
        # Exactly the source's keyframes: no GOP of our own, no scene cuts.
        "g": 1_000_000, "keyint_min": 1_000_000, "sc_threshold": 0,
        "force_key_frames": _force_times(keys, Fraction(master.fps)),
        "c:a": "copy", "video_track_timescale": master.timescale, "movflags": "+faststart", "format": "mp4"})
    return list(out.get_args())


def render_piece(src: Path, dest: Path, look: Look, master: DeliveryFormat, frames: int,
                 overlay: tuple[Path, Path] | None) -> dict[str, Any]:
    """Write the look piece of conformed shot ``src`` (``frames`` frames); return its metadata."""
    info = probe(src)
    if info.video is None:
        raise MediaError(f"{src}: no video stream")
    keys = keyframes(src)
    run(piece_args(src, dest, look, master, keys, overlay))
    return {"frames": frames, "fps": str(master.fps), "keyframes": len(keys)}


def finish_args(master: Path, list_file: Path, dest: Path) -> list[str]:
    """Build the argv that puts the look's joined video under the master's audio and chapters."""
    return [*input_args(master), "-f", "concat", "-safe", "0", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"file:{list_file}",
            "-map", "1:v:0", "-map", "0:a:0?", "-map_metadata", "0", "-map_chapters", "0",
            "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(dest)]


def finish(master: Path, sequences: Sequence[Path], dest: Path) -> None:
    """Join a look's sequences by stream copy, with the finished master's audio and chapters."""
    from .assemble import _check_joins, concat_list

    if not sequences:
        raise MediaError(f"nothing to join into {dest}")
    with tempfile.TemporaryDirectory(prefix="shotmake-look-") as tmp:
        list_file = Path(tmp) / "pieces.ffconcat"
        list_file.write_text(concat_list(sequences), encoding="utf-8")
        _check_joins(run(finish_args(master, list_file, dest)), dest)


def cue_of(manifest: Mapping[str, Any], frames: int, fps: int) -> Cue | None:
    """The cue a look piece's manifest asks to draw, on the piece's clock (None: no subtitle)."""
    sub = manifest.get("subtitle")
    if not sub:
        return None
    return piece_cue(str(sub["text"]), frames, fps, int(sub["overlap_in"]), int(sub["overlap_out"]))
