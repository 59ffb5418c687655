"""Media formats by file extension: what a file named in a spec is opened as, and where it may go.

A file is read as what its name promises, never as what its bytes claim. Left to guess,
ffmpeg reads an ``.mp3`` holding an ffconcat list (or an HLS playlist) as that list and pulls
in every file the list names, none of them in a node's key. So every input gets the demuxer
of its extension (``media.input_args``), and a spec may name only extensions of this table,
each field its own kind. Kept apart from ``media`` so that loading a spec imports no ffmpeg.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def extension_problem(name: str, accepted: tuple[str, ...]) -> str:
    """Why a file called ``name`` cannot be used where ``accepted`` extensions go ("" if it can)."""
    suffix = name.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    if "." in name.rsplit("/", 1)[-1] and f".{suffix}" in accepted:
        return ""
    return f"a file here must end in {', '.join(accepted)}"
