"""Conform clips to the episode's delivery format so they join by stream copy.

Vendors disagree: Sora returns 1280x720 at 30 fps with mono 44.1 kHz audio (or none), Veo
24 fps 48 kHz stereo; both write ordinary AAC whose encoder priming hides behind an edit
list. ``conform`` makes every piece identical in codec parameters *and* gives it joinable
audio (``media.aac_span``), re-encoding the video only when a video parameter differs or a
frame-accurate trim is asked for. Audio is always rewritten: it costs milliseconds per clip
and is what makes N stream-copied joins drift 0.

``segment`` cuts a conformed clip at keyframes by stream copy (for transitions, which then
re-encode only the footage around the cut).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import MediaError
from .formats import DeliveryFormat as DeliveryFormat  # re-exported: its home before formats.py
from .media import AAC_FRAME, MediaInfo, aac_span, audio_is_joinable, decode_counts, open_input, probe, run
from .media import ffmpeg_python as ff


def video_reasons(info: MediaInfo, fmt: DeliveryFormat) -> list[str]:
    """Why the video of ``info`` cannot be stream-copied into ``fmt`` (empty: it can)."""
    v = info.video
    if v is None:
        return ["no video stream"]
    reasons = []
    if v.codec != "h264":
        reasons.append(f"codec {v.codec} != h264")
    if (v.width, v.height) != (fmt.width, fmt.height):
        reasons.append(f"size {v.width}x{v.height} != {fmt.width}x{fmt.height}")
    if v.fps != fmt.fps:
        reasons.append(f"fps {v.fps} != {fmt.fps}")
    if v.sar != 1:
        reasons.append(f"sample aspect {v.sar} != 1")
    if v.pix_fmt != fmt.pix_fmt:
        reasons.append(f"pixel format {v.pix_fmt} != {fmt.pix_fmt}")
    if v.profile.lower() != fmt.profile.lower():
        reasons.append(f"profile {v.profile or '?'} != {fmt.profile}")
    return reasons


def audio_reasons(info: MediaInfo, fmt: DeliveryFormat) -> list[str]:
    """Why the audio of ``info`` differs from ``fmt``'s parameters (joinability is checked apart)."""
    a = info.audio
    if a is None:
        return ["no audio stream (a silent track is added)"]
    reasons = []
    if a.codec != "aac":
        reasons.append(f"audio codec {a.codec} != aac")
    if a.sample_rate != fmt.sample_rate:
        reasons.append(f"audio rate {a.sample_rate} != {fmt.sample_rate}")
    if a.channels != fmt.channels:
        reasons.append(f"audio {a.layout or a.channels} != {fmt.layout}")
    return reasons


def needs_conform(info: MediaInfo, fmt: DeliveryFormat) -> list[str]:
    """Return the reasons a clip must be conformed before a stream-copy join; empty if none.

    Parameters only: a file can match them and still carry non-joinable audio, which
    ``conform`` fixes regardless (see ``media.audio_is_joinable``).
    """
    return video_reasons(info, fmt) + audio_reasons(info, fmt)


@dataclass(frozen=True)
class Trim:
    """Frames to drop from a clip's head and tail (generated clips often have weak ends)."""

    head: int = 0
    tail: int = 0


def trim_frames(fps: Fraction, trim_in: float = 0.0, trim_out: float | None = None,
                frames: int | None = None) -> Trim:
    """Turn ``in``/``out`` seconds into whole frames: ``in`` drops the head, ``out`` ends the clip."""
    head = round(trim_in * fps)
    tail = 0
    if trim_out is not None:
        if frames is None:
            raise ValueError("trim_out needs the clip's frame count")
        tail = max(0, frames - round(trim_out * fps))
    return Trim(head, tail)


def conform_args(src: Path, dest: Path, info: MediaInfo, frames: int, fmt: DeliveryFormat, trim: Trim,
                 copy_video: bool) -> list[str]:
    """Build the conform argv: video copied or re-encoded (trimmed by frame), joinable AAC audio."""
    if info.video is None:
        raise MediaError(f"{src}: no video stream to conform")
    src_fps = info.video.fps
    kept = frames - trim.head - trim.tail
    if kept <= 0:
        raise MediaError(f"{src}: trims remove all {frames} frames")
    out_frames = kept if copy_video else max(1, round(Fraction(kept) / src_fps * fmt.fps))
    inp = open_input(src)
    streams: list[Any] = []
    vargs: dict[str, Any]
    if copy_video:
        streams.append(inp.video)
        vargs = {"c:v": "copy"}
    else:
        v = inp.video.trim(start_frame=trim.head, end_frame=trim.head + kept).setpts("PTS-STARTPTS")
        v = v.filter("fps", fmt.fps)
        v = v.filter("scale", fmt.width, fmt.height, force_original_aspect_ratio="decrease")
        v = v.filter("pad", fmt.width, fmt.height, "(ow-iw)/2", "(oh-ih)/2").filter("setsar", 1)
        # fps conversion may land a frame short; clone the last rather than end early.
        v = v.filter("tpad", stop_mode="clone", stop=2).trim(end_frame=out_frames).setpts("PTS-STARTPTS")
        streams.append(v.filter("format", fmt.pix_fmt))
        gop = max(1, round(fmt.gop * fmt.fps))
        vargs = {"c:v": "libx264", "preset": fmt.preset, "crf": fmt.crf, "profile:v": fmt.profile,
                 "pix_fmt": fmt.pix_fmt, "g": gop, "keyint_min": gop, "sc_threshold": 0, "r": fmt.fps}
    out_fps = src_fps if copy_video else Fraction(fmt.fps)
    span = aac_span(out_frames, out_fps, fmt.sample_rate)
    start = Fraction(trim.head) / src_fps
    if info.audio is not None:
        a = inp.audio.filter("atrim", start=float(start)).filter("asetpts", "PTS-STARTPTS")
    else:
        a = ff.input(f"anullsrc=r={fmt.sample_rate}:cl={fmt.layout}", f="lavfi").audio
    # Joinable audio: the encoder's 1024 priming samples become the track's first frame, so
    # feed it from sample 1024 on; pad short audio with silence and cut to the exact span.
    a = (a.filter("aresample", fmt.sample_rate).filter("aformat", sample_fmts="fltp", channel_layouts=fmt.layout)
         .filter("apad").filter("atrim", start_sample=AAC_FRAME, end_sample=span).filter("asetpts", "PTS-STARTPTS"))
    streams.append(a)
    out = ff.output(*streams, str(dest), **vargs, **{
        "c:a": "aac", "b:a": fmt.audio_bitrate, "ar": fmt.sample_rate, "ac": fmt.channels,
        "bsf:a": f"setts=ts=TS+{AAC_FRAME}", "video_track_timescale": fmt.timescale,
        "movflags": "+faststart", "format": "mp4"})
    return list(out.get_args())


@dataclass(frozen=True)
class ConformResult:
    """What conform did, for the node's cache metadata and for ``explain``."""

    frames: int
    fps: Fraction
    audio_samples: int
    video_copied: bool
    reasons: tuple[str, ...]

    def meta(self) -> dict[str, Any]:
        return {"frames": self.frames, "fps": str(self.fps), "audio_samples": self.audio_samples,
                "video_copied": self.video_copied, "reasons": list(self.reasons)}


def conform(src: Path, dest: Path, fmt: DeliveryFormat, trim_in: float = 0.0,
            trim_out: float | None = None, *, reencode: bool = False) -> ConformResult:
    """Write ``src`` into ``dest`` in ``fmt`` with joinable audio; trims are frame-accurate.

    The video is stream-copied when its parameters match and no trim is asked for, unless
    ``reencode`` (e.g. a long-GOP vendor clip between two transitions, which needs the
    delivery format's keyframes to be cut cheaply).
    """
    info = probe(src)
    if info.video is None:
        raise MediaError(f"{src}: no video stream to conform")
    frames, _ = decode_counts(src)
    trim = trim_frames(info.video.fps, trim_in, trim_out, frames)
    vreasons = video_reasons(info, fmt)
    reasons = vreasons + audio_reasons(info, fmt)
    if trim != Trim():
        reasons.append(f"trim {trim.head} head / {trim.tail} tail frames")
    if info.audio is not None and not audio_reasons(info, fmt) and not audio_is_joinable(src):
        reasons.append("audio not joinable (encoder priming behind an edit list)")
    copy_video = not vreasons and trim == Trim() and not reencode
    if reencode and not vreasons:
        reasons.append("re-encode asked for (keyframes)")
    run(conform_args(src, dest, info, frames, fmt, trim, copy_video))
    out_fps = info.video.fps if copy_video else Fraction(fmt.fps)
    kept = frames - trim.head - trim.tail
    out_frames = kept if copy_video else max(1, round(Fraction(kept) / info.video.fps * fmt.fps))
    return ConformResult(frames=out_frames, fps=out_fps, audio_samples=aac_span(out_frames, out_fps, fmt.sample_rate),
                         video_copied=copy_video, reasons=tuple(reasons))


def segment_args(src: Path, dest: Path, start: int, end: int, fps: Fraction, fmt: DeliveryFormat) -> list[str]:
    """Build the argv that stream-copies frames [start, end) of a conformed clip.

    ``start`` must be a keyframe (and ``end`` one too, or the clip's end) so the copied
    packets decode on their own. Audio is re-encoded to the segment's joinable span.
    """
    seek = {"ss": f"{float(Fraction(start) / fps):.6f}"} if start else {}
    count = end - start
    inp = open_input(src, **seek)
    span = aac_span(count, fps, fmt.sample_rate)
    a = (inp.audio.filter("aformat", sample_fmts="fltp", channel_layouts=fmt.layout).filter("apad")
         .filter("atrim", start_sample=AAC_FRAME, end_sample=span).filter("asetpts", "PTS-STARTPTS"))
    # End the copied video by presentation time with a packet filter: ``-frames:v`` would
    # close the whole output and drop the audio's last packets, and ``-t`` cuts by decode
    # time (B-frames would leak in). Ends are keyframes, so what is kept decodes alone.
    cut = float((Fraction(count) - Fraction(1, 2)) / fps)
    out = ff.output(inp.video, a, str(dest), **{
        "c:v": "copy", "bsf:v": f"noise=drop=gte(pts*tb\\,{cut:.6f})",
        "c:a": "aac", "b:a": fmt.audio_bitrate, "ar": fmt.sample_rate,
        "bsf:a": f"setts=ts=TS+{AAC_FRAME}", "video_track_timescale": fmt.timescale,
        "movflags": "+faststart", "format": "mp4"})
    return list(out.get_args())


def segment(src: Path, dest: Path, start: int, end: int, fmt: DeliveryFormat) -> None:
    """Stream-copy frames [start, end) of conformed ``src`` (keyframe-aligned) into ``dest``."""
    info = probe(src)
    if info.video is None:
        raise MediaError(f"{src}: no video stream")
    if end <= start:
        raise MediaError(f"{src}: empty segment [{start}, {end})")
    run(segment_args(src, dest, start, end, info.video.fps, fmt))
