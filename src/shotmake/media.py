"""ffmpeg at the boundary: find the binary, run it, and read what a media file contains.

Everything that touches the ffmpeg process lives here, so nothing above sees a
``subprocess`` or ``FileNotFoundError``: failures become ``MediaError`` with the tail of
ffmpeg's stderr. Parsing is kept pure (``parse_probe``, ``parse_decode_counts``) so it can be
tested on captured text; ``probe`` and ``decode_counts`` only add the process call.

There is deliberately no ffprobe dependency: the imageio-ffmpeg wheel (our fallback binary)
ships ffmpeg alone, so probing parses ``ffmpeg -i FILE``'s stream summary, and exact counts
come from decoding to the null muxer and reading its per-stream totals.

Example::

    info = probe(Path("shot.mp4"))
    info.video.fps          # Fraction(24, 1)
    decode_counts(Path("shot.mp4"))   # (192, 384000)
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import MediaError
from .formats import DEMUXERS

with warnings.catch_warnings():
    # ffmpeg-python 0.2.0 imports the ``future`` compatibility package; it is silent on
    # Python 3.11 today, but pytest runs with warnings as errors, and a future Python that
    # deprecates something ``future`` touches must not make every media import fail.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import ffmpeg as ffmpeg_python

__all__ = [
    "AudioStream",
    "MediaInfo",
    "VideoStream",
    "decode_counts",
    "decode_frame",
    "ffmpeg_python",
    "AAC_FRAME",
    "aac_span",
    "find_ffmpeg",
    "chapters",
    "find_font",
    "last_frame",
    "keyframes",
    "audio_is_joinable",
    "packets",
    "parse_decode_counts",
    "parse_probe",
    "probe",
    "run",
    "demuxer",
    "input_args",
    "open_input",
    "INPUT_PROTOCOLS",
]

#: How many trailing stderr lines a MediaError quotes.
_TAIL_LINES = 20


@functools.cache
def find_ffmpeg() -> str:
    """Return the ffmpeg binary: ``$FFMPEG``, else ``ffmpeg`` on PATH, else imageio-ffmpeg's.

    Cached because every render calls it; tests that change ``$FFMPEG`` call
    ``find_ffmpeg.cache_clear()``. An ``$FFMPEG`` that points nowhere is an error rather
    than a silent fallback: the user asked for that binary.
    """
    env = os.environ.get("FFMPEG")
    if env:
        found = shutil.which(env)
        if found is None:
            raise MediaError(f"$FFMPEG is set to {env!r}, which is not an executable file; "
                             "fix or unset it")
        return found
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise MediaError("no ffmpeg found: install ffmpeg, set $FFMPEG, or `pip install imageio-ffmpeg`") from exc


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _command(argv: Sequence[str], loglevel: str) -> list[str]:
    return [find_ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel, "-y", *argv]


def _invoke(argv: Sequence[str], *, loglevel: str, timeout: float | None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with our global options; translate launch failures, not exit codes."""
    cmd = _command(argv, loglevel)
    try:
        # -nostdin only stops ffmpeg reading keys; an input named pipe:0 still reads ``stdin``.
        return subprocess.run(cmd, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except OSError as exc:  # missing, not executable, not a program
        raise MediaError(f"cannot execute ffmpeg at {cmd[0]!r}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        raise MediaError(f"ffmpeg timed out after {timeout}s\n{_tail(err)}".rstrip()) from exc


def run(argv: Sequence[str], *, timeout: float | None = None, loglevel: str = "warning",
        stdin: bytes | None = None) -> str:
    """Run ffmpeg with ``argv`` (WITHOUT the binary) and return its stderr.

    The binary and ``-hide_banner -nostdin -nostats -loglevel warning -y`` are prepended, so
    stderr holds only warnings (e.g. non-monotonic DTS, which callers may assert on) and
    errors. A non-zero exit raises ``MediaError`` quoting stderr's last lines. ffmpeg-python
    graphs pass ``stream.get_args()``; ``stdin`` feeds an input named ``pipe:0``.
    """
    proc = _invoke(argv, loglevel=loglevel, timeout=timeout, stdin=stdin)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        target = argv[-1] if argv else ""
        raise MediaError(f"ffmpeg failed (exit {proc.returncode}) writing {target}:\n{_tail(err)}")
    return err


def run_bytes(argv: Sequence[str], *, timeout: float | None = None) -> bytes:
    """Run ffmpeg writing to ``pipe:`` and return stdout (small outputs: a frame, a PNG)."""
    proc = _invoke(argv, loglevel="error", timeout=timeout)
    if proc.returncode != 0:
        raise MediaError(f"ffmpeg failed (exit {proc.returncode}):\n{_tail(proc.stderr.decode('utf-8', 'replace'))}")
    return proc.stdout


# --------------------------------------------------------------------------- inputs

#: The only protocol an input may use: a local file (no http, no ``subfile:``, no ``concat:``).
INPUT_PROTOCOLS = "file"


def demuxer(path: str | Path) -> str:
    """The demuxer for ``path``'s extension (``formats.DEMUXERS``); ``MediaError`` for any other."""
    suffix = Path(path).suffix.lower()
    found = DEMUXERS.get(suffix)
    if found is None:
        raise MediaError(f"{path}: cannot open a '{suffix or 'extensionless'}' file; "
                         f"media files must end in one of {', '.join(DEMUXERS)}")
    return found


def _url(path: str | Path) -> str:
    # The explicit protocol keeps a name with a colon in it ("take:2.mp4") from naming one.
    return f"file:{path}"


#: The demuxer for each still-image type a model may answer (read as the type it claims).
IMAGE_DEMUXERS = {"image/png": "png_pipe", "image/jpeg": "jpeg_pipe", "image/webp": "webp_pipe"}


def image_to_png(src: Path, mime: str, dest: Path, *, timeout: float | None = 120) -> None:
    """Re-encode the still ``src`` (a ``mime`` image, e.g. the JPEG a model answered) as PNG at ``dest``."""
    if mime not in IMAGE_DEMUXERS:
        raise MediaError(f"{src}: cannot read a {mime} image; expected one of {', '.join(IMAGE_DEMUXERS)}")
    run(["-f", IMAGE_DEMUXERS[mime], "-protocol_whitelist", INPUT_PROTOCOLS, "-i", _url(src), "-frames:v", "1",
         "-c:v", "png", "-f", "image2", str(dest)], timeout=timeout)


def input_args(path: str | Path) -> list[str]:
    """ffmpeg input options for a media file: its extension's demuxer, local files only."""
    return ["-f", demuxer(path), "-protocol_whitelist", INPUT_PROTOCOLS, "-i", _url(path)]


def open_input(path: str | Path, **options: Any) -> Any:
    """An ffmpeg-python input for a media file, opened as ``input_args`` says (plus ``options``)."""
    return ffmpeg_python.input(_url(path), f=demuxer(path), protocol_whitelist=INPUT_PROTOCOLS, **options)


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoStream:
    """The first video stream of a file, as ffmpeg describes it."""

    codec: str
    width: int
    height: int
    fps: Fraction
    pix_fmt: str
    #: Codec profile (``High``, ``Constrained Baseline``...), empty when ffmpeg names none.
    profile: str
    #: Sample (pixel) aspect ratio; 1 when ffmpeg does not print one.
    sar: Fraction
    time_base: Fraction


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream of a file."""

    codec: str
    sample_rate: int
    channels: int
    #: Channel layout name as ffmpeg prints it (``stereo``, ``mono``, ``5.1(side)``).
    layout: str


@dataclass(frozen=True)
class MediaInfo:
    """What a media file contains. ``duration`` is the container's, to 10 ms (None for stills)."""

    duration: float | None
    format_name: str
    video: VideoStream | None
    audio: AudioStream | None


_LAYOUT_CHANNELS = {
    "mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4, "quad(side)": 4,
    "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6, "6.0": 6, "6.1": 7,
    "7.0": 7, "7.1": 8, "7.1(wide)": 8, "downmix": 2,
}

#: Rates ffmpeg prints rounded to 2 decimals; snap them back to their exact NTSC fractions.
_NTSC = tuple(Fraction(n * 1000, 1001) for n in (24, 25, 30, 48, 50, 60, 120, 240))

_INPUT_RE = re.compile(r"^Input #0, (?P<fmt>.+), from '.*':\s*$", re.M)
_DURATION_RE = re.compile(r"^\s+Duration: (?:(?P<h>\d+):(?P<m>\d+):(?P<s>[\d.]+)|N/A)", re.M)
_STREAM_RE = re.compile(r"^\s+Stream #0:\d+\S*?: (?P<type>Video|Audio): (?P<body>.*)$", re.M)


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses or brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _rate(token: str) -> Fraction:
    """Parse ffmpeg's printed rate (``24``, ``29.97``, ``24k``) into an exact fraction."""
    mult = 1000 if token.endswith("k") else 1
    value = Fraction(token.rstrip("k")) * mult
    for exact in _NTSC:
        if abs(value - exact) < Fraction(1, 100):
            return exact
    return value.limit_denominator(100)


def _parse_video(body: str) -> VideoStream:
    parts = _split_top(body)
    head = parts[0]
    codec = head.split()[0]
    profile = ""
    m = re.match(r"\S+ \(([^)]*)\)", head)
    if m and "/" not in m.group(1):
        profile = m.group(1)
    pix_fmt = parts[1].split("(")[0].strip() if len(parts) > 1 else ""
    width = height = 0
    sar = Fraction(1)
    fps = tbr = tbn = None
    for part in parts[1:]:
        if (size := re.match(r"(\d+)x(\d+)", part)) and not width:
            width, height = int(size.group(1)), int(size.group(2))
            if (s := re.search(r"SAR (\d+):(\d+)", part)) and int(s.group(2)):
                sar = Fraction(int(s.group(1)), int(s.group(2)))
        elif m := re.match(r"([\d.]+k?) (fps|tbr|tbn)\b", part):
            if m.group(2) == "fps":
                fps = _rate(m.group(1))
            elif m.group(2) == "tbr":
                tbr = _rate(m.group(1))
            else:
                tbn = Fraction(m.group(1).rstrip("k")) * (1000 if m.group(1).endswith("k") else 1)
    rate = fps or tbr or Fraction(0)
    time_base = Fraction(1) / tbn if tbn else Fraction(0)
    return VideoStream(codec=codec, width=width, height=height, fps=rate, pix_fmt=pix_fmt,
                       profile=profile, sar=sar, time_base=time_base)


def _parse_audio(body: str) -> AudioStream:
    parts = _split_top(body)
    codec = parts[0].split()[0]
    rate, layout, channels = 0, "", 0
    for part in parts[1:]:
        if m := re.match(r"(\d+) Hz", part):
            rate = int(m.group(1))
        elif not layout and rate:
            # The field after the rate is the layout: a name, or "N channels" when unnamed.
            layout = part
            if m := re.match(r"(\d+) channels", part):
                channels = int(m.group(1))
            else:
                channels = _LAYOUT_CHANNELS.get(part, 0)
    return AudioStream(codec=codec, sample_rate=rate, channels=channels, layout=layout)


def parse_probe(stderr: str, path: str = "") -> MediaInfo:
    """Parse the stream summary that ``ffmpeg -i FILE`` prints.

    Raises ``MediaError`` carrying ffmpeg's own complaint when the file was not readable.
    """
    inp = _INPUT_RE.search(stderr)
    if inp is None:
        raise MediaError(f"not a readable media file: {path}\n{_tail(stderr, 4)}")
    duration = None
    if (d := _DURATION_RE.search(stderr)) and d.group("h") is not None:
        duration = int(d.group("h")) * 3600 + int(d.group("m")) * 60 + float(d.group("s"))
    video = audio = None
    for m in _STREAM_RE.finditer(stderr):
        body = m.group("body")
        if m.group("type") == "Video" and video is None and "(attached pic)" not in body:
            video = _parse_video(body)
        elif m.group("type") == "Audio" and audio is None:
            audio = _parse_audio(body)
    return MediaInfo(duration=duration, format_name=inp.group("fmt"), video=video, audio=audio)


def probe(path: Path, *, timeout: float | None = 60) -> MediaInfo:
    """Describe ``path``'s container and first video/audio streams (no decoding)."""
    # ``ffmpeg -i FILE`` with no output always exits non-zero; the summary is what we want.
    proc = _invoke(input_args(path), loglevel="info", timeout=timeout)
    return parse_probe(proc.stderr.decode("utf-8", "replace"), str(path))


_CHAPTER_RE = re.compile(r"^\s+Chapter #0:\d+: start (-?[\d.]+), end (-?[\d.]+)\n(?:\s+Metadata:\n\s+title\s+: (.*)\n)?", re.M)


def parse_chapters(stderr: str) -> list[tuple[float, float, str]]:
    """Read ``(start, end, title)`` chapter markers from ``ffmpeg -i`` output."""
    return [(float(m.group(1)), float(m.group(2)), m.group(3) or "") for m in _CHAPTER_RE.finditer(stderr)]


def chapters(path: Path, *, timeout: float | None = 60) -> list[tuple[float, float, str]]:
    """Return ``path``'s chapter markers as ``(start, end, title)`` in seconds."""
    proc = _invoke(input_args(path), loglevel="info", timeout=timeout)
    return parse_chapters(proc.stderr.decode("utf-8", "replace"))


_IN_VIDEO_RE = re.compile(r"Input stream #0:\d+ \(video\): .*?(\d+) frames decoded")
_IN_AUDIO_RE = re.compile(r"Input stream #0:\d+ \(audio\): .*?\((\d+) samples\)")


def parse_decode_counts(stderr: str) -> tuple[int, int]:
    """Read the decoded video frames and audio samples from ffmpeg's verbose end-of-run totals."""
    v = _IN_VIDEO_RE.search(stderr)
    a = _IN_AUDIO_RE.search(stderr)
    if v is None and a is None:
        raise MediaError(f"ffmpeg printed no decode totals:\n{_tail(stderr, 6)}")
    return (int(v.group(1)) if v else 0, int(a.group(1)) if a else 0)


def decode_counts(path: Path, *, timeout: float | None = 600) -> tuple[int, int]:
    """Decode the first video and audio streams fully; return (video frames, audio samples).

    These are the numbers a player will actually present, after edit lists and encoder
    priming are applied — the ground truth for duration and A/V sync checks. Decoding to
    the null muxer with passthrough timing avoids any frame duplication or dropping.
    """
    info = probe(path, timeout=timeout)
    argv = input_args(path)
    if info.video is not None:
        argv += ["-map", "0:v:0", "-fps_mode", "passthrough", "-c:v", "wrapped_avframe"]
    if info.audio is not None:
        argv += ["-map", "0:a:0", "-c:a", "pcm_s16le"]
    if info.video is None and info.audio is None:
        return (0, 0)
    argv += ["-f", "null", "-"]
    err = run(argv, timeout=timeout, loglevel="verbose")
    return parse_decode_counts(err)


def decode_frame(path: Path, index: int, *, timeout: float | None = 120) -> tuple[int, int, bytes]:
    """Decode frame number ``index`` (0-based; negative counts from the end) as raw RGB24.

    Returns (width, height, pixels). Meant for verification: it decodes up to the frame.
    """
    info = probe(path, timeout=timeout)
    if info.video is None:
        raise MediaError(f"{path} has no video stream")
    frames = 0
    if index < 0:
        frames, _ = decode_counts(path, timeout=timeout)
        index += frames
    w, h = info.video.width, info.video.height
    if index < 0:
        raise MediaError(f"{path}: frame index {index - frames} is before the first frame")
    stream = (
        open_input(path, noautorotate=None)
        .video.filter("select", f"eq(n,{index})")
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", vframes=1, fps_mode="passthrough")
    )
    data = run_bytes(stream.get_args(), timeout=timeout)
    if len(data) != w * h * 3:
        raise MediaError(f"{path}: frame {index} not found (got {len(data)} bytes)")
    return w, h, data



def last_frame(path: Path, *, tail: float = 3.0, timeout: float | None = 300) -> tuple[int, int, bytes]:
    """Return (width, height, RGB24 pixels) of the final decoded video frame of ``path``.

    Exact, unlike ``-sseof`` plus one output frame (which yields the first frame after the
    seek point): we seek ``tail`` seconds before the end (ffmpeg lands on an earlier
    keyframe and decodes forward), stream every frame from there to EOF through a pipe and
    keep only the last. If the seek lands past the last video frame (audio much longer than
    video), decode the whole file instead.
    """
    info = probe(path, timeout=timeout)
    if info.video is None:
        raise MediaError(f"{path} has no video stream")
    w, h = info.video.width, info.video.height
    frame_size = w * h * 3
    for seek in ([-abs(tail)] if info.duration and info.duration > tail else []) + [None]:
        pre = ["-sseof", str(seek)] if seek is not None else []
        argv = [*pre, "-noautorotate", *input_args(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        data = _stream_last_chunk(_command(argv, "error"), frame_size, timeout)
        if data is not None:
            return w, h, data
    raise MediaError(f"{path}: no video frame could be decoded")


def _stream_last_chunk(cmd: list[str], size: int, timeout: float | None) -> bytes | None:
    """Run ``cmd`` and return the last complete ``size``-byte chunk of its stdout, or None."""

    # stderr goes to a temp file so a chatty decoder can never fill a pipe and deadlock us.
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            raise MediaError(f"cannot execute ffmpeg at {cmd[0]!r}: {exc.strerror}") from exc
        with proc:
            assert proc.stdout is not None
            last: bytes | None = None
            buf = bytearray()
            deadline = None if timeout is None else time.monotonic() + timeout
            while chunk := proc.stdout.read(1 << 20):
                buf += chunk
                while len(buf) >= size:
                    last = bytes(buf[:size])
                    del buf[:size]
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
                    raise MediaError(f"ffmpeg timed out after {timeout}s reading frames")
            code = proc.wait()
        if code != 0:
            err.seek(0)
            raise MediaError(f"ffmpeg failed (exit {code}) decoding frames:\n{_tail(err.read().decode('utf-8', 'replace'))}")
    return last


@dataclass(frozen=True)
class PacketInfo:
    """One demuxed packet, as the ``framecrc`` muxer lists it (timestamps in ``time_base``)."""

    pts: int
    duration: int
    key: bool
    #: The packet carries skip-samples side data (encoder priming/padding hidden by an edit list).
    skip: bool


def parse_framecrc(text: str) -> tuple[Fraction, list[PacketInfo]]:
    """Parse ``-f framecrc`` output for one stream: its time base and packets in decode order."""
    time_base = Fraction(0)
    packets = []
    for line in text.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            flags = next((f for f in fields[6:] if f.startswith("F=")), "F=0x1")
            packets.append(PacketInfo(pts=int(fields[2]), duration=int(fields[3]),
                                      key=bool(int(flags[2:], 16) & 1), skip="Skip Samples" in line))
    return time_base, packets


def packets(path: Path, stream: str = "v", *, timeout: float | None = 120) -> tuple[Fraction, list[PacketInfo]]:
    """List the packets of the first ``v``ideo or ``a``udio stream without decoding them."""
    out = run_bytes([*input_args(path), "-map", f"0:{stream}:0", "-c", "copy", "-f", "framecrc", "pipe:1"],
                    timeout=timeout)
    return parse_framecrc(out.decode("utf-8", "replace"))


def keyframes(path: Path, *, timeout: float | None = 120) -> list[int]:
    """Return the frame indices (presentation order, 0-based) of the video's keyframes."""
    info = probe(path, timeout=timeout)
    if info.video is None:
        raise MediaError(f"{path} has no video stream")
    time_base, pkts = packets(path, "v", timeout=timeout)
    start = min((p.pts for p in pkts), default=0)
    return sorted(round((p.pts - start) * time_base * info.video.fps) for p in pkts if p.key)


def audio_is_joinable(path: Path, *, timeout: float | None = 120) -> bool:
    """True when the audio track tiles its timeline (see ``aac_span``): first packet at 0, no skip.

    Such files concatenate by stream copy with zero drift; anything else must be conformed.
    """
    time_base, pkts = packets(path, "a", timeout=timeout)
    return bool(pkts) and pkts[0].pts == 0 and not any(p.skip for p in pkts)


# --------------------------------------------------------------------------- AAC framing

#: Samples per AAC-LC frame; also the encoder's priming delay.
AAC_FRAME = 1024


def aac_span(frames: int, fps: Fraction, rate: int) -> int:
    """Return the sample count of a *joinable* audio track for ``frames`` frames of video.

    Stream-copied AAC can only start and stop on 1024-sample frames, and a normal encode puts
    1024 priming samples before t=0 behind an edit list that the concat demuxer does not
    honour across files: each join then overlaps the next file's priming with the previous
    file's tail ("Non-monotonic DTS"), and the audio drifts ~40 ms per join even when the
    decoded audio is exactly as long as the video. A joinable track instead counts the
    priming as content (its first packet at t=0) and spans the whole frames that cover the
    video: ``ceil(video_samples / 1024) * 1024``. Every file then tiles the timeline exactly;
    the last video frame of a clip is held for the < 1024 samples (21 ms) of slack.

    Example: 37 frames at 24 fps = 74000 samples -> 73 frames -> 74752 samples.
    """
    video_samples = Fraction(frames) * rate / fps
    return -(-video_samples // AAC_FRAME) * AAC_FRAME


# --------------------------------------------------------------------------- fonts

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
)


@functools.cache
def find_font() -> str | None:
    """Return a TrueType font file for drawtext, or None (callers then draw no text).

    ``$SHOTMAKE_FONT`` wins; then fontconfig's choice for "sans"; then well-known paths.
    An explicit file (rather than drawtext's ``font=`` lookup) keeps renders identical
    whatever fontconfig's cache holds at the moment.
    """
    env = os.environ.get("SHOTMAKE_FONT")
    if env:
        return env if Path(env).is_file() else None
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            out = subprocess.run([fc_match, "-f", "%{file}", "sans"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out.lower().endswith((".ttf", ".otf", ".ttc")) and Path(out).is_file():
            return out
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None
