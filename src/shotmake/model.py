"""Frozen records that every stage passes around: the parsed episode and the planned nodes.

The spec loader produces an ``Episode``; the planner turns it into ``Node``s; the cache
returns ``Artifact``s. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

from .errors import SourceLocation

NodeKind = Literal["sheet", "clip", "frame", "sequence", "episode"]

#: Pixel sizes for the (resolution, aspect) pairs a shot may ask for.
FRAME_SIZES: Mapping[tuple[str, str], tuple[int, int]] = MappingProxyType(
    {
        ("480p", "16:9"): (854, 480),
        ("480p", "9:16"): (480, 854),
        ("720p", "16:9"): (1280, 720),
        ("720p", "9:16"): (720, 1280),
        ("1080p", "16:9"): (1920, 1080),
        ("1080p", "9:16"): (1080, 1920),
        ("4k", "16:9"): (3840, 2160),
        ("4k", "9:16"): (2160, 3840),
    }
)


@dataclass(frozen=True)
class Style:
    """The look applied identically to every prompt of the episode."""

    look: str = ""
    palette: str = ""
    negative: str = ""


@dataclass(frozen=True)
class SheetSpec:
    """How to draw a character sheet: an image node whose output becomes a reference image."""

    provider: str
    model: str = ""
    prompt: str = "character turnaround sheet of {name}: {description}"
    aspect: str = "16:9"
    size: str = "1K"


@dataclass(frozen=True)
class Character:
    """A character of the bible: its description is injected verbatim into every prompt."""

    id: str
    name: str
    description: str
    references: tuple[str, ...] = ()
    sheet: SheetSpec | None = None
    cameo: str | None = None
    sora_character: str | None = None
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Shot:
    """One generated clip. ``path`` is its place in the spec (``shots[3]``) for messages."""

    id: str
    prompt: str
    provider: str
    duration: float
    aspect: str = "16:9"
    resolution: str = "720p"
    fps: int = 24
    model: str = ""
    characters: tuple[str, ...] = ()
    seed: int | None = None
    negative: str = ""
    audio: bool = True
    after: str | None = None
    title: str = ""
    path: str = ""
    location: SourceLocation | None = None

    @property
    def size(self) -> tuple[int, int]:
        """Width and height in pixels."""
        return FRAME_SIZES[(self.resolution, self.aspect)]


@dataclass(frozen=True)
class Sequence:
    """An ordered run of shots, assembled into one file."""

    id: str
    shots: tuple[str, ...]
    title: str = ""
    path: str = ""
    location: SourceLocation | None = None


@dataclass(frozen=True)
class Episode:
    """A whole parsed, validated episode spec."""

    name: str
    source: str
    output: str
    style: Style
    characters: Mapping[str, Character]
    shots: Mapping[str, Shot]
    sequences: tuple[Sequence, ...]
    title: str = ""
    locations: Mapping[str, SourceLocation] = field(default_factory=dict)

    def where(self, path: str) -> SourceLocation | None:
        """Return the source location of a field path such as ``shots[3].prompt``."""
        probe = path
        while probe:
            if probe in self.locations:
                return self.locations[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None


@dataclass(frozen=True)
class Node:
    """One step of the build graph.

    ``manifest`` is everything that determines the output (what the key hashes, minus the
    input keys); ``inputs`` are the ids of the nodes whose outputs this one consumes.
    """

    id: str
    kind: NodeKind
    key: str
    provider: str
    manifest: Mapping[str, Any]
    inputs: tuple[str, ...] = ()
    label: str = ""
    location: SourceLocation | None = None
    extension: str = ".mp4"
    #: Hints for renderers and reports (shot id, characters) that never enter the key.
    labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    """A stored output: its content digest, where the bytes live, and render metadata."""

    digest: str
    path: str
    size: int
    meta: Mapping[str, Any] = field(default_factory=dict)
