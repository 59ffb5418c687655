"""Judge whether a downloaded render is the media that was asked for, before the cache keeps it.

A vendor's CDN can answer 200 with the wrong bytes (an error page, a truncated or zero-filled
body of the right length, another job's clip). Cached, such a file would be "built" for good and
every later assembly would use it. The checks here are pure: the caller reads the file's facts
(``mp4info`` from the box headers, else ffmpeg's probe).
"""

from __future__ import annotations

from .media import MediaInfo

#: A clip may be off by this many seconds (container rounding, a trailing audio frame)...
DURATION_SLACK = 1.0
#: ...or by this share of its length, whichever is larger.
DURATION_SLACK_SHARE = 0.1


def expected_clip_seconds(asked: float, extends_seconds: float | None, extension_step: float) -> float:
    """Seconds a finished clip should last: an extension comes back joined onto its source.

    Veo adds a fixed ``extension_step`` (7 s); a route whose step is 0 (Omni) adds the
    shot's own duration (``asked``).
    """
    if extends_seconds is not None:
        return extends_seconds + (extension_step or asked)
    return asked


def clip_problems(seconds: float | None, has_video: bool, expected_seconds: float, container: str = "") -> list[str]:
    """Why a file of ``seconds`` (with or without video) is not a clip of about ``expected_seconds``."""
    if not has_video:
        return [f"it holds no video stream ({container or 'no picture track'})"]
    if seconds is None:
        return ["it has no duration (a still image, not a clip)"]
    slack = max(DURATION_SLACK, expected_seconds * DURATION_SLACK_SHARE)
    if abs(seconds - expected_seconds) > slack:
        return [f"it lasts {seconds:.1f} s where {expected_seconds:g} s was asked"]
    return []


def image_problems(info: MediaInfo) -> list[str]:
    """Why ``info`` is not a still image; empty when it is."""
    if info.video is None or info.video.width <= 0 or info.video.height <= 0:
        return [f"it holds no picture ({info.format_name})"]
    return []
