"""The offline renderer: real, cheap, deterministic H.264/AAC test cards drawn by ffmpeg.

It stands in for a video model everywhere a real one would cost money or need a network:
the demo episode, the test suite, the benchmarks. Its output is a genuine deliverable-shaped
file (so assembly is exercised for real) and a pure function of the node key (so caching
and "did this rebuild?" checks can compare pixels):

* the background colour and tone frequency come from the key;
* the shot id, the first words of the prompt and the characters present are drawn on it;
* a ``first_frame`` image (how ``after:`` continuity looks offline) fills the first second,
  and reference images appear as thumbnails;
* a frame counter makes trims and dropped frames visible;
* ``audio: false`` still gets a (silent) track, so default clips always join by stream copy;
* each spoken line (``dialogue:``) sounds as a tone of its speaker's own pitch and is written
  across the bottom of the card for exactly its cue's time, so timing is checkable by eye and ear.

Clip audio is made *joinable*: the AAC track spans a whole number of 1024-sample AAC frames
that starts at 0 and covers the video (see ``media.aac_span``), which is what lets the
concat demuxer stream-copy clips without audio drift.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import MediaError, TerminalError
from ..media import AAC_FRAME, aac_span, find_font, open_input, run
from ..media import ffmpeg_python as ff
from .base import InputFile, ProgressCallback, Provider, RenderRequest

MODEL = "local-testcard"
SHEET_MODEL = "local-sheet"


@dataclass(frozen=True)
class Variant:
    """A file format the renderer imitates (the default is already the delivery format).

    ``width``/``height``/``fps`` of 0 mean "as requested". ``joinable`` False writes plain
    AAC with the encoder's priming edit list, like a vendor's file, so conform has work to do.
    """

    name: str
    width: int = 0
    height: int = 0
    fps: int = 0
    sample_rate: int = 48000
    channels: int = 2
    audio: bool = True
    joinable: bool = True
    profile: str = ""
    #: x264 preset; veryfast keeps CABAC/B-frames (High profile) like vendor files and the
    #: delivery format, so default clips need no video re-encode at assembly.
    preset: str = "veryfast"
    #: Seconds between forced keyframes (0: x264's default, one per ~10 s). Short GOPs let a
    #: transition re-encode only the footage around the cut.
    gop: float = 0.5


VARIANTS: dict[str, Variant] = {
    "default": Variant("default", profile="high"),
    # Sora 2 as seen in the wild: 1280x720 at 30 fps, mono 44.1 kHz (and some clips silent).
    "sora": Variant("sora", width=1280, height=720, fps=30, sample_rate=44100, channels=1,
                    joinable=False, profile="high", preset="superfast", gop=0),
    "sora-silent": Variant("sora-silent", width=1280, height=720, fps=30, audio=False, joinable=False,
                           profile="high", preset="superfast", gop=0),
    # Veo 3.1: 24 fps, 48 kHz stereo AAC, but a plain encoder edit list.
    "veo": Variant("veo", fps=24, joinable=False, profile="high", preset="superfast", gop=0),
}


def _digest(key: str) -> bytes:
    return hashlib.sha256(f"shotmake-local:{key}".encode()).digest()


def key_colour(key: str) -> str:
    """Return the background colour (``0xRRGGBB``) for a node key: mid-dark so white text reads."""
    d = _digest(key)
    return "0x" + "".join(f"{40 + b % 140:02x}" for b in d[:3])


def key_tone(key: str) -> int:
    """Return the tone frequency in Hz for a node key (220-879 Hz)."""
    d = _digest(key)
    return 220 + int.from_bytes(d[3:5], "big") % 660


def speaker_tone(speaker: str) -> int:
    """The pitch (Hz) of a speaker's lines on the test card: fixed per name, 300-899 Hz."""
    d = hashlib.sha256(f"shotmake-voice:{speaker}".encode()).digest()
    return 300 + int.from_bytes(d[:2], "big") % 600


def dialogue_of(request: RenderRequest) -> list[tuple[float, float, str, str]]:
    """The request's spoken lines as ``(start, end, speaker, line)`` (from the plan's labels)."""
    found = []
    for item in request.labels.get("dialogue") or ():
        try:
            start, end, speaker, line = item
            found.append((float(start), float(end), str(speaker), str(line)))
        except (TypeError, ValueError):
            continue
    return found


def tone_expression(base: int, lines: list[tuple[float, float, str, str]]) -> str:
    """An ``aevalsrc`` expression: a quiet bed at ``base`` Hz, and each line's speaker tone during its cue."""
    terms = [f"0.05*sin(2*PI*{base}*t)"]
    terms += [f"0.4*between(t,{a:.3f},{b:.3f})*sin(2*PI*{speaker_tone(who)}*t)" for a, b, who, _ in lines]
    return "+".join(terms)


def _dialogue_font(font: str | None) -> str | None:
    """A font that draws the lines in any script: the bundled Noto Sans CJK when installed."""
    from ..subtitles import bundled_font

    found = bundled_font()
    return str(found) if found is not None else font


def _wrap(text: str, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` characters, at most ``max_lines`` lines."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
            if len(lines) == max_lines:
                return lines
        else:
            cur = f"{cur} {word}" if cur else word
    if cur and len(lines) < max_lines:
        lines.append(cur)
    return lines


def _draw_lines(stream: Any, lines: list[tuple[str, int]], font: str | None, width: int, top: int) -> Any:
    """Draw (text, size) lines from ``top`` down; without a font, draw nothing rather than fail."""
    if font is None:
        return stream
    y = top
    for text, size in lines:
        if not text:
            continue
        # expansion=none: user text is literal (no %{...}); ffmpeg-python escapes the option
        # and filtergraph levels (quotes, colons, commas, brackets, backslashes) itself.
        stream = stream.drawtext(text=text, escape_text=False, expansion="none", fontfile=font,
                                 fontsize=size, fontcolor="white", x=max(2, width // 40), y=y,
                                 box=1, boxcolor="black@0.35", boxborderw=max(1, size // 6))
        y += int(size * 1.35)
    return stream


def _card_lines(request: RenderRequest, width: int, height: int) -> list[tuple[str, int]]:
    big = max(8, height // 9)
    small = max(6, height // 18)
    per_line = max(8, int(width / (small * 0.62)) - 2)
    shot = str(request.labels.get("shot") or request.node_id)
    chars = request.labels.get("characters") or ()
    if isinstance(chars, str):
        chars = (chars,)
    take = request.labels.get("take")
    # Takes of a shot differ only by colour otherwise: name the take so a person can tell them apart.
    lines = [(f"{shot}  take {take}" if take else shot, big)]
    lines += [(ln, small) for ln in _wrap(request.prompt, per_line, 2)]
    if chars:
        lines.append(("with " + ", ".join(str(c) for c in chars), small))
    return lines


def clip_args(request: RenderRequest, dest: Path, *, font: str | None, variant: Variant) -> list[str]:
    """Build the ffmpeg argv (without the binary) that renders ``request`` into ``dest``."""
    width = variant.width or request.width
    height = variant.height or request.height
    fps = variant.fps or request.fps
    frames = max(1, round(request.duration * fps))
    colour = key_colour(request.key)

    video = ff.input(f"color=c={colour}:s={width}x{height}:r={fps}", f="lavfi").video
    video = video.trim(end_frame=frames).setpts("PTS-STARTPTS")
    if request.first_frame is not None:
        still = open_input(request.first_frame.path).video.filter("scale", width, height).filter("setsar", 1)
        video = ff.overlay(video, still, eof_action="repeat", enable=f"lt(n,{fps})")
    thumb_w = max(16, width // 6) // 2 * 2
    pictures = [ref for ref in request.references if ref.mime.startswith("image/")]  # not voice samples
    for i, ref in enumerate(pictures[:3]):
        thumb = open_input(ref.path).video.filter("scale", thumb_w, -2)
        video = ff.overlay(video, thumb, eof_action="repeat",
                           x=f"W-{(thumb_w + 4) * (i + 1)}", y="H-h-4")
    video = _draw_lines(video, _card_lines(request, width, height), font, width, max(2, height // 20))
    lines = dialogue_of(request)
    line_font = _dialogue_font(font) if lines else None
    if line_font is not None:
        size = max(6, height // 16)
        for a, b, who, text in lines:
            video = video.drawtext(text=f"{who}: {text}", escape_text=False, expansion="none", fontfile=line_font,
                                   fontsize=size, fontcolor="yellow", x="(w-tw)/2", y=f"h-{size * 3}",
                                   box=1, boxcolor="black@0.6", boxborderw=max(1, size // 5),
                                   enable=f"between(t,{a:.3f},{b:.3f})")
    if font is not None:
        size = max(6, height // 18)
        video = video.drawtext(text="%{frame_num}", escape_text=False, fontfile=font, fontsize=size, fontcolor="white",
                               x=f"w-tw-{max(2, width // 40)}", y=max(2, height // 20))
    video = video.filter("format", "yuv420p")

    vargs: dict[str, Any] = {"vcodec": "libx264", "preset": variant.preset, "pix_fmt": "yuv420p",
                             "r": fps, "frames:v": frames}
    if variant.profile:
        vargs["profile:v"] = variant.profile
    if variant.gop:
        gop = max(1, round(variant.gop * fps))
        vargs.update({"g": gop, "keyint_min": gop, "sc_threshold": 0})
    streams = [video]
    aargs: dict[str, Any] = {}
    if variant.audio:
        rate = variant.sample_rate
        layout = "stereo" if variant.channels == 2 else "mono"
        if lines:
            tone = ff.input(f"aevalsrc=exprs='{tone_expression(key_tone(request.key), lines)}':s={rate}",
                            f="lavfi").audio
        else:
            tone = ff.input(f"sine=f={key_tone(request.key)}:r={rate}", f="lavfi").audio
        if variant.joinable:
            # Priming counts as content (see media.aac_span): feed the encoder the tone from
            # sample 1024 on and shift the packets so the first one sits at t=0.
            span = aac_span(frames, Fraction(fps), rate)
            tone = tone.filter("atrim", start_sample=AAC_FRAME, end_sample=span)
            aargs["bsf:a"] = f"setts=ts=TS+{AAC_FRAME}"
        else:
            tone = tone.filter("atrim", end_sample=frames * rate // fps)
        if not request.audio:
            tone = tone.filter("volume", 0)
        tone = tone.filter("asetpts", "PTS-STARTPTS").filter("aformat", channel_layouts=layout)
        streams.append(tone)
        aargs.update({"acodec": "aac", "b:a": "128k", "ar": rate})
    mp4: dict[str, str | int] = {"format": "mp4", "movflags": "+faststart"}
    if variant.joinable:
        mp4["video_track_timescale"] = _timescale(Fraction(fps), variant.sample_rate)
    out = ff.output(*streams, str(dest), **vargs, **aargs, **mp4)
    return list(out.get_args())


def _timescale(fps: Fraction, rate: int) -> int:
    """A video timescale in which both frames and AAC frames are whole ticks."""
    from math import lcm

    return lcm(rate, (1 / fps).denominator)


def sheet_args(request: RenderRequest, dest: Path, *, font: str | None) -> list[str]:
    """Build the argv for a character sheet PNG: key colour, name, and the description's words."""
    width, height = request.width or 1024, request.height or 576
    video = ff.input(f"color=c={key_colour(request.key)}:s={width}x{height}:r=1", f="lavfi").video
    for i, ref in enumerate(request.references[:4]):
        thumb_w = max(16, width // 5) // 2 * 2
        thumb = open_input(ref.path).video.filter("scale", thumb_w, -2)
        video = ff.overlay(video, thumb, x=f"W-{(thumb_w + 4) * (i + 1)}", y="H-h-4")
    big, small = max(8, height // 10), max(6, height // 22)
    per_line = max(8, int(width / (small * 0.62)) - 2)
    title = str(request.labels.get("character") or request.labels.get("name") or request.node_id)
    lines = [(title, big)] + [(ln, small) for ln in _wrap(request.prompt, per_line, 6)]
    video = _draw_lines(video, lines, font, width, max(2, height // 16))
    out = ff.output(video, str(dest), vframes=1, vcodec="png", format="image2", update=1)
    return list(out.get_args())


class LocalProvider(Provider):
    """Render clips and sheets offline with ffmpeg; free, deterministic, synchronous."""

    name = "local"
    remote = False

    def __init__(self, latency: float | None = None, *, variant: str = "default") -> None:
        if latency is None:
            latency = float(os.environ.get("SHOTMAKE_LOCAL_LATENCY", "0") or 0)
        if variant not in VARIANTS:
            raise TerminalError(f"unknown local variant {variant!r}; known: {', '.join(VARIANTS)}",
                                provider="local")
        self.latency = latency
        self.variant = VARIANTS[variant]

    def render(self, request: RenderRequest, dest: Path, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Render ``request`` into ``dest`` (an MP4 clip or a PNG sheet); return its metadata."""
        if progress is not None:
            progress(0.0)
        if self.latency > 0:
            time.sleep(self.latency)
        font = find_font()
        try:
            if request.kind == "sheet":
                run(sheet_args(request, dest, font=font))
                meta: dict[str, Any] = {"model": SHEET_MODEL, "width": request.width or 1024,
                                        "height": request.height or 576}
            else:
                run(clip_args(request, dest, font=font, variant=self.variant))
                v = self.variant
                fps = v.fps or request.fps
                frames = max(1, round(request.duration * fps))
                meta = {"model": MODEL, "variant": v.name, "width": v.width or request.width,
                        "height": v.height or request.height, "fps": fps, "frames": frames,
                        "audio": v.audio}
                if v.audio:
                    meta["sample_rate"] = v.sample_rate
                    meta["audio_samples"] = (aac_span(frames, Fraction(fps), v.sample_rate) if v.joinable
                                             else frames * v.sample_rate // fps)
        except MediaError as exc:
            # Re-running the same ffmpeg command cannot succeed: a terminal provider failure.
            raise TerminalError(exc.message, node=request.node_id, provider=self.name) from exc
        if progress is not None:
            progress(1.0)
        return meta


def input_file(path: Path) -> InputFile:
    """Wrap a local image as an ``InputFile`` (for tests and the CLI's ad-hoc renders)."""
    data = path.read_bytes()
    mime = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
    return InputFile(path=path, digest=hashlib.sha256(data).hexdigest(), mime=mime)
