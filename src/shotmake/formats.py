"""Media formats: what a file named in a spec is opened as, and the frame of each rendition.

A file is read as what its name promises, never as what its bytes claim. Left to guess,
ffmpeg reads an ``.mp3`` holding an ffconcat list (or an HLS playlist) as that list and pulls
in every file the list names, none of them in a node's key. So every input gets the demuxer
of its extension (``media.input_args``), and a spec may name only extensions of this table,
each field its own kind. Kept apart from ``media`` so that loading a spec imports no ffmpeg.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from math import lcm
from typing import Any

from .errors import MediaError
from .model import FRAME_SIZES

#: The ffmpeg demuxer each accepted extension is opened with. ``mov`` leaves external data
#: references (drefs) off unless asked, so an MP4 cannot name other files either.
DEMUXERS: Mapping[str, str] = {
    ".mp4": "mov", ".mov": "mov", ".m4v": "mov", ".m4a": "mov",
    ".mp3": "mp3", ".wav": "wav", ".flac": "flac", ".aac": "aac", ".ogg": "ogg", ".opus": "ogg",
    ".png": "png_pipe", ".jpg": "jpeg_pipe", ".jpeg": "jpeg_pipe", ".webp": "webp_pipe",
}
AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v")
#: A character's reference files: pictures, and clips or voice recordings for the routes that take them
#: (lint SM150/SM142 refuse them where the route cannot; the provider sends the bytes, ffmpeg never opens them).
REFERENCE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".mp4", ".mov", ".mp3", ".wav")
#: Font files (read by libass and fontTools, not by a demuxer).
FONT_EXTENSIONS = (".ttf", ".otf", ".ttc", ".otc")


def extension_problem(name: str, accepted: tuple[str, ...]) -> str:
    """Why a file called ``name`` cannot be used where ``accepted`` extensions go ("" if it can)."""
    suffix = name.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    if "." in name.rsplit("/", 1)[-1] and f".{suffix}" in accepted:
        return ""
    return f"a file here must end in {', '.join(accepted)}"


#: What each rendition is: the (resolution, aspect) of its frame, None meaning "the master's".
#: A rendition is exactly that size (even numbers), scaled up when its source is smaller.
RENDITIONS: Mapping[str, tuple[str | None, str | None]] = {
    "vertical": (None, "9:16"),  # a centre 9:16 crop of the master, at the master's resolution class
    "proxy": ("480p", None),     # the master's picture at 480p
}


def rendition_size(kind: str, resolution: str, aspect: str) -> tuple[int, int]:
    """The frame size of rendition ``kind`` of a ``resolution``/``aspect`` master.

    ``vertical`` of a 720p 16:9 master is 720x1280 (its 404x720 centre crop scaled up 1.78x);
    ``proxy`` of it is 854x480.
    """
    want_resolution, want_aspect = RENDITIONS[kind]
    return FRAME_SIZES[(want_resolution or resolution, want_aspect or aspect)]


def rendition_upscale(kind: str, resolution: str, aspect: str) -> float:
    """How many times the rendition's frame is wider than the master's pixels it is made from (1: none)."""
    width, height = rendition_size(kind, resolution, aspect)
    master_w, master_h = FRAME_SIZES[(resolution, aspect)]
    # The source region: the largest centre crop of the master with the rendition's shape.
    crop_w = min(master_w, master_h * width / height)
    return max(1.0, width / crop_w)


@dataclass(frozen=True)
class DeliveryFormat:
    """What every piece of the master must be: H.264 + AAC-LC in MP4.

    The encoder settings (preset, crf, gop) are part of the format because a conform node's
    key must change when they do.
    """

    width: int = 1920
    height: int = 1080
    fps: int = 24
    pix_fmt: str = "yuv420p"
    #: H.264 profile as ffmpeg names it; veryfast and slower presets produce High.
    profile: str = "high"
    sample_rate: int = 48000
    channels: int = 2
    audio_bitrate: str = "192k"
    preset: str = "veryfast"
    crf: int = 20
    #: Seconds between keyframes in re-encoded video: bounds what a transition re-encodes.
    gop: float = 0.5

    @property
    def layout(self) -> str:
        return "stereo" if self.channels == 2 else "mono" if self.channels == 1 else f"{self.channels}c"

    @property
    def timescale(self) -> int:
        """An MP4 video timescale in which frames and AAC frames are both whole ticks."""
        from fractions import Fraction  # here: fractions and decimal cost a plan ~1 ms to import

        return lcm(self.sample_rate, (1 / Fraction(self.fps)).denominator)

    def manifest(self) -> dict[str, Any]:
        """The fields that determine a conformed file, for node keys."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


#: Quality of each rendition kind (x264 crf); the master's own crf for a burned master.
RENDITION_CRF = {"vertical": None, "proxy": 28}


@dataclass(frozen=True)
class Look:
    """How a look piece is drawn: ``crop`` (None or "vertical"), exact ``size``, quality ``crf``."""

    name: str
    size: tuple[int, int]
    crop: str | None
    crf: int

    def manifest(self) -> dict[str, Any]:
        return {"look": self.name, "size": list(self.size), "crop": self.crop, "crf": self.crf}

    def format(self, master: DeliveryFormat) -> DeliveryFormat:
        """The delivery format of this look's pieces and sequences (the master's, resized)."""
        return replace(master, width=self.size[0], height=self.size[1], crf=self.crf)


def look_for(kind: str, size: tuple[int, int], master: DeliveryFormat) -> Look:
    """The look of rendition ``kind`` (``formats.RENDITIONS``) at ``size``."""
    if kind not in RENDITION_CRF:
        raise MediaError(f"unknown rendition {kind!r}; use 'vertical' or 'proxy'")
    width, height = size
    if width % 2 or height % 2:
        raise MediaError(f"rendition {kind} must have even dimensions, not {width}x{height}")
    crf = RENDITION_CRF[kind]
    return Look(kind, size, "vertical" if kind == "vertical" else None, master.crf if crf is None else crf)


def subtitled_look(master: DeliveryFormat) -> Look:
    """The master's own picture, to burn subtitles into."""
    return Look("subtitled", (master.width, master.height), None, master.crf)
