"""Judge whether a downloaded render is the media that was asked for, before the cache keeps it.

A vendor's CDN can answer 200 with the wrong bytes (an error page, a truncated or zero-filled
body of the right length, another job's clip). Cached, such a file would be "built" for good and
every later assembly would use it. The checks here are pure: the caller probes the file.
"""

from __future__ import annotations

from .media import MediaInfo

#: A clip may be off by this many seconds (container rounding, a trailing audio frame)...
DURATION_SLACK = 1.0
#: ...or by this share of its length, whichever is larger.
DURATION_SLACK_SHARE = 0.1


def expected_clip_seconds(asked: float, extends_seconds: float | None, extension_step: float) -> float:
    """Seconds a finished clip should last: Veo returns an extension joined onto its source."""
    if extends_seconds is not None:
        return extends_seconds + extension_step
    return asked


def clip_problems(info: MediaInfo, expected_seconds: float) -> list[str]:
    """Why ``info`` is not a clip of about ``expected_seconds``; empty when it is."""
    if info.video is None:
        return [f"it holds no video stream ({info.format_name})"]
    if info.duration is None:
        return ["it has no duration (a still image, not a clip)"]
    slack = max(DURATION_SLACK, expected_seconds * DURATION_SLACK_SHARE)
    if abs(info.duration - expected_seconds) > slack:
        return [f"it lasts {info.duration:.1f} s where {expected_seconds:g} s was asked"]
    return []


def image_problems(info: MediaInfo) -> list[str]:
    """Why ``info`` is not a still image; empty when it is."""
    if info.video is None or info.video.width <= 0 or info.video.height <= 0:
        return [f"it holds no picture ({info.format_name})"]
    return []
