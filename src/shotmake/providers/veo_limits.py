"""What Veo 3.1 accepts, checked before a request costs anything (protocol page §2.4, §2.5, §3).

Both backends (Gemini API and Vertex AI) refuse the same combinations; checking them here
turns a paid-for round trip into an immediate ``TerminalError`` that names the allowed values.
Only the extension rules differ: the Gemini API extends its own videos from the last 2 days
by URI, Vertex extends any 1–30 s Veo clip sent inline or from Cloud Storage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ..errors import TerminalError
from .base import RenderRequest
from .catalog import Route

Backend = Literal["gemini", "vertex"]

#: Image types Veo takes for first/last frames and reference images.
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp")
#: The Gemini API forgets generated videos after this many seconds (2 days); extension needs one.
GEMINI_RETENTION_SECONDS = 2 * 24 * 3600.0
#: Longest input the Gemini API extends (141 s + 7 s = the 148 s ceiling).
GEMINI_MAX_EXTEND_INPUT = 141.0
#: Vertex extends inputs of 1–30 s (to at most 37 s).
VERTEX_MAX_EXTEND_INPUT = 30.0


def _fmt(values: tuple[float, ...] | tuple[str, ...]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _number(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def check_request(route: Route, request: RenderRequest, *, backend: Backend, now: float) -> None:
    """Raise ``TerminalError`` naming the allowed values if Veo would refuse ``request``."""

    def refuse(message: str) -> TerminalError:
        return TerminalError(f"{route.name}: {message}", provider=route.name, node=request.node_id)

    if request.kind != "clip":
        raise refuse(f"renders clips, not {request.kind!r}; use an image route for character sheets")
    if request.aspect not in route.aspects:
        raise refuse(f"aspect {request.aspect!r} is not supported; use one of {_fmt(route.aspects)}")
    if request.resolution not in route.resolutions:
        raise refuse(f"resolution {request.resolution!r} is not supported; use one of {_fmt(route.resolutions)}")
    images = [f for f in (request.first_frame, request.last_frame, *request.references) if f is not None]
    for image in images:
        if image.mime not in IMAGE_MIMES:
            raise refuse(f"input image {image.path.name} is {image.mime}; Veo takes {_fmt(IMAGE_MIMES)}")
    if request.last_frame is not None and request.first_frame is None:
        raise refuse("a last frame needs a first frame too (Veo interpolates between the two)")
    if request.references:
        if route.max_references == 0:
            raise refuse("does not support reference images; use veo-3.1 or veo-3.1-fast")
        if len(request.references) > route.max_references:
            raise refuse(f"takes at most {route.max_references} reference images, got {len(request.references)}")
        if request.first_frame is not None or request.extends is not None:
            raise refuse("reference images cannot be combined with a first/last frame or an extension")
        if not request.prompt.strip():
            raise refuse("reference images need a prompt")
    if request.extends is not None:
        _check_extension(route, request, backend, now, refuse)
        return
    if not request.prompt.strip() and request.first_frame is None:
        raise refuse("a prompt is required (or a first frame to animate)")
    if request.duration not in route.durations:
        raise refuse(f"duration {request.duration:g} s is not allowed; use one of {_fmt(route.durations)} s")
    longest = max(route.durations)
    for feature, active in (
        (request.resolution, request.resolution in route.eight_seconds_only),
        ("reference images", bool(request.references) and "references" in route.eight_seconds_only),
    ):
        if active and request.duration != longest:
            raise refuse(f"{feature} requires {longest:g}-second clips (got {request.duration:g} s); "
                         f"set duration: {longest:g}")


def _check_extension(
    route: Route, request: RenderRequest, backend: Backend, now: float, refuse: Callable[[str], TerminalError]
) -> None:
    source = request.extends
    assert source is not None
    if not route.extension:
        raise refuse("does not support extension; use veo-3.1 or veo-3.1-fast")
    if request.first_frame is not None:
        raise refuse("an extension cannot also take a first/last frame")
    if request.resolution != "720p":
        raise refuse(f"extension is 720p only (got {request.resolution}); set resolution: 720p")
    if not request.prompt.strip():
        raise refuse("an extension needs a prompt describing what happens next")
    meta = source.meta
    length = _number(meta.get("duration"))
    source_res = meta.get("resolution")
    if source_res is not None and source_res != "720p":
        raise refuse(f"only 720p videos can be extended; {source.path.name} is {source_res}")
    if backend == "vertex":
        if length is not None and not 1.0 <= length <= VERTEX_MAX_EXTEND_INPUT:
            raise refuse(f"Vertex extends videos of 1–{VERTEX_MAX_EXTEND_INPUT:g} s; "
                         f"{source.path.name} is {length:g} s")
        return
    uri = meta.get("remote_uri")
    generated_at = _number(meta.get("generated_at"))
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")) or generated_at is None:
        raise refuse(f"Veo only extends videos it generated itself in the last 2 days; {source.path.name} "
                     "has no Gemini API video URI (render the source shot with a Veo route first)")
    age = now - generated_at
    if age > GEMINI_RETENTION_SECONDS:
        raise refuse(f"Veo only extends videos it generated in the last 2 days; {source.path.name} was "
                     f"generated {age / 3600:.0f} h ago and Google has deleted it (re-render the source shot)")
    if length is not None and length > GEMINI_MAX_EXTEND_INPUT:
        raise refuse(f"Veo extends videos up to {GEMINI_MAX_EXTEND_INPUT:g} s (result ≤ "
                     f"{route.extension_max_total:g} s); {source.path.name} is {length:g} s")
