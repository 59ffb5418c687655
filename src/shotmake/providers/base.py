"""The provider interface: how a node's render request reaches a model and comes back as a file.

Two shapes, one base class:

* a **local** provider renders synchronously: ``render(request, dest)``;
* a **remote** provider is a job API: ``submit`` returns a job id, ``poll`` reports its
  state, ``download`` streams the result to ``dest``. The executor (with the job journal)
  drives these calls so that a submitted job is resumed after a crash, never resubmitted.

Adapters translate their foreign errors (httpx, HTTP statuses, job failures) into
``RetryableError``/``TerminalError`` at this boundary, and ``RouteGone`` only for an answer
about the model or the API itself (never a 404 about one job, video or file). Every HTTP
request goes through ``http.ApiSession``, which keeps the credential on the configured origin
and bounds each body; a new adapter reuses it rather than calling httpx with a key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import POLL_HINT_MAX, ProviderError, clamp_hint

JobState = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True)
class InputFile:
    """A file the render consumes (a reference image, a first frame, a clip to extend).

    ``meta`` is the cache metadata of the artifact that produced it, when it was rendered
    by shotmake (e.g. a remote video URI that an extension call must point at).
    """

    path: Path
    digest: str
    mime: str
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderRequest:
    """Everything a provider needs to produce one node's output."""

    node_id: str
    key: str
    kind: Literal["clip", "sheet"]
    model: str
    prompt: str
    negative_prompt: str = ""
    duration: float = 8.0
    width: int = 1280
    height: int = 720
    fps: int = 24
    aspect: str = "16:9"
    resolution: str = "720p"
    seed: int | None = None
    audio: bool = True
    first_frame: InputFile | None = None
    last_frame: InputFile | None = None
    references: tuple[InputFile, ...] = ()
    extends: InputFile | None = None
    #: Free-form hints for renderers (shot id, characters present) that never affect the key.
    labels: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStatus:
    """A remote job's state as last polled."""

    state: JobState
    #: Fraction done, 0..1 (vendors' percentages are converted at the boundary).
    progress: float | None = None
    error: ProviderError | None = None
    #: Seconds the server asked us to wait before the next poll, when it said (clamped to
    #: ``[0, POLL_HINT_MAX]`` here, whatever the adapter passed: a day or ``inf`` is not obeyed).
    poll_after: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "poll_after", clamp_hint(self.poll_after, POLL_HINT_MAX))


ProgressCallback = Callable[[float], None]


class Provider:
    """A renderer of clips or images. Subclasses implement either ``render`` or the job trio.

    Not abstract: each method has a default, so a provider overrides only the side it speaks.
    """

    #: The route name used in specs (``local``, ``veo-3.1``, ``sora-2``...).
    name: str = ""
    #: True when renders are remote jobs (submit/poll/download).
    remote: bool = False

    def estimate_cost(self, request: RenderRequest) -> float:
        """Return the expected price of the render in USD (0 for free renderers)."""
        return 0.0

    def render(self, request: RenderRequest, dest: Path, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Render synchronously into ``dest``; return metadata to keep in the cache."""
        raise NotImplementedError(f"{self.name} is a remote provider; use submit/poll/download")

    def submit(self, request: RenderRequest) -> str:
        """Create the remote job and return its id. Called at most once per node key."""
        raise NotImplementedError(f"{self.name} renders locally; use render()")

    def poll(self, job_id: str) -> JobStatus:
        """Return the job's current state."""
        raise NotImplementedError

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Stream the finished job's output into ``dest``; return metadata to keep."""
        raise NotImplementedError

    def reconcile(self, request: RenderRequest, submitted_after: float) -> str | None:
        """Find a job that a create call may have started without its id being recorded.

        Called after a crash between "about to create" and "job id known". Return the job id
        if the server shows a matching job created after ``submitted_after`` (unix seconds),
        or None when no match can be established (the caller then refuses to resubmit unless
        the user passes ``--resubmit-uncertain``).
        """
        return None

    def close(self) -> None:
        """Release connections and other resources."""


class ProviderRegistry(ABC):
    """Resolves route names to providers; the CLI builds one from config and environment."""

    @abstractmethod
    def get(self, name: str) -> Provider:
        """Return the provider for a route name or raise ``ProviderError``."""

    @abstractmethod
    def names(self) -> list[str]:
        """All route names this registry knows."""

