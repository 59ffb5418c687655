"""Static facts about every route a spec may name: model id, vendor, limits and prices.

Pure data (from ``shared/providers.md``), read by lint (to refuse what a provider would
reject before a cent is spent), by the adapters (to enforce the same limits before
submitting) and by cost estimates. Prices are defaults; project config may override them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Vendor = Literal["local", "google", "openai"]


@dataclass(frozen=True)
class Route:
    """What one route name (``veo-3.1``, ``sora-2``...) means and accepts."""

    name: str
    vendor: Vendor
    kind: Literal["video", "image"]
    model: str
    #: Allowed clip lengths in seconds; empty means any positive length.
    durations: tuple[float, ...] = ()
    resolutions: tuple[str, ...] = ("480p", "720p", "1080p", "4k")
    aspects: tuple[str, ...] = ("16:9", "9:16")
    #: Resolutions/features that force the longest duration (Veo: 1080p, 4k, references, extension).
    eight_seconds_only: tuple[str, ...] = ()
    max_references: int = 0
    #: Sora rejects any input image containing a human face.
    references_may_show_faces: bool = True
    first_frame: bool = False
    last_frame: bool = False
    extension: bool = False
    #: Seconds an extension call adds, and the longest result it can produce.
    extension_step: float = 0.0
    extension_max_total: float = 0.0
    #: Reference images may go in the same request as a first/last frame or an extension
    #: (Veo: no, it refuses referenceImages together with image, lastFrame or video).
    references_with_frames: bool = True
    #: The first frame and the reference images share one input slot, so they count together
    #: against ``max_references`` (Sora: a single ``input_reference``).
    frames_share_references: bool = False
    #: Characters per shot the model keeps consistent in practice.
    comfortable_characters: int = 3
    #: USD per second of output (video) or per image, keyed by resolution ("*" = any).
    price: Mapping[str, float] = field(default_factory=dict)
    #: Date the vendor scheduled the endpoint to shut down (ISO), if any.
    shutdown: str | None = None
    #: Largest file (MiB) a download from this route may be; a bigger body is cut with an error.
    max_download_mb: float = 512.0

    def price_for(self, resolution: str) -> float:
        """USD per second (video) or per image at ``resolution``; 0 when unknown."""
        return float(self.price.get(resolution, self.price.get("*", 0.0)))


_VEO_COMMON = dict(
    vendor="google",
    kind="video",
    durations=(4.0, 6.0, 8.0),
    aspects=("16:9", "9:16"),
    eight_seconds_only=("1080p", "4k", "references", "extension"),
    max_references=3,
    first_frame=True,
    last_frame=True,
    extension=True,
    extension_step=7.0,
    extension_max_total=148.0,
    references_with_frames=False,
)

ROUTES: Mapping[str, Route] = MappingProxyType(
    {
        r.name: r
        for r in (
            Route(name="local", vendor="local", kind="video", model="local-testcard-2", max_references=3,
                  first_frame=True, last_frame=True, comfortable_characters=8),
            Route(name="local-image", vendor="local", kind="image", model="local-sheet", max_references=14),
            Route(name="veo-3.1", model="veo-3.1-generate-preview", resolutions=("720p", "1080p", "4k"),
                  price=MappingProxyType({"720p": 0.40, "1080p": 0.40, "4k": 0.60}), **_VEO_COMMON),  # type: ignore[arg-type]
            Route(name="veo-3.1-fast", model="veo-3.1-fast-generate-preview",
                  resolutions=("720p", "1080p", "4k"),
                  price=MappingProxyType({"720p": 0.10, "1080p": 0.12, "4k": 0.30}), **_VEO_COMMON),  # type: ignore[arg-type]
            Route(name="veo-3.1-lite", model="veo-3.1-lite-generate-preview", resolutions=("720p", "1080p"),
                  price=MappingProxyType({"720p": 0.05, "1080p": 0.08}),
                  **{**_VEO_COMMON, "max_references": 0, "extension": False}),  # type: ignore[arg-type]
            Route(name="sora-2", vendor="openai", kind="video", model="sora-2", durations=(4.0, 8.0, 12.0),
                  resolutions=("720p",), max_references=1, references_may_show_faces=False, first_frame=True,
                  frames_share_references=True, comfortable_characters=2, price=MappingProxyType({"720p": 0.10}),
                  shutdown="2026-09-24"),
            Route(name="sora-2-pro", vendor="openai", kind="video", model="sora-2-pro",
                  durations=(4.0, 8.0, 12.0), resolutions=("720p", "1024p"), max_references=1,
                  references_may_show_faces=False, first_frame=True, frames_share_references=True,
                  comfortable_characters=2, price=MappingProxyType({"720p": 0.30, "1024p": 0.50}),
                  shutdown="2026-09-24"),
            Route(name="gemini-3-pro-image", vendor="google", kind="image", model="gemini-3-pro-image-preview",
                  max_references=14, resolutions=("1K", "2K", "4K"),
                  aspects=("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"),
                  price=MappingProxyType({"1K": 0.134, "2K": 0.134, "4K": 0.24})),
            Route(name="gemini-3.1-flash-image", vendor="google", kind="image",
                  model="gemini-3.1-flash-image-preview", max_references=14, resolutions=("1K", "2K", "4K"),
                  aspects=("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"),
                  price=MappingProxyType({"*": 0.067})),
            Route(name="gpt-image-1", vendor="openai", kind="image", model="gpt-image-1", max_references=16,
                  references_may_show_faces=True, resolutions=("1K",), aspects=("1:1", "3:2", "2:3"),
                  price=MappingProxyType({"*": 0.167})),
            Route(name="gpt-image-1.5", vendor="openai", kind="image", model="gpt-image-1.5", max_references=16,
                  resolutions=("1K",), aspects=("1:1", "3:2", "2:3"), price=MappingProxyType({"*": 0.133})),
        )
    }
)


def route(name: str) -> Route | None:
    """Return the route called ``name``, or None."""
    return ROUTES.get(name)
