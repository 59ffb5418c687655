"""The exception tree: every error shotmake raises on purpose.

    ShotmakeError                  exit_code 1
    ├── SpecError                  exit_code 2   the user must fix the episode files
    │     (file, line, column, field path, hint)
    ├── UsageError                 exit_code 2   bad command-line use
    └── RunError                   exit_code 1   something failed while building
          ├── MediaError                         ffmpeg failed or a file is not valid media
          ├── CacheError                         the object store or index is unusable
          │     └── RemoteCacheError             the shared remote cache cannot give or take a render
          ├── BudgetExceeded                     the next paid job would pass `build --budget`
          │     └── SpendRefused   exit_code 3   refused before submitting: estimate over --budget
          │                                      or over what is left of the daily cap
          ├── TransferAborted                    a response broke a size cap or deadline: cut, job kept
          ├── FrozenMismatch                     `build --frozen` cannot reproduce the lock file's cut
          ├── InternalError        exit_code 70  an unexpected exception: a bug in shotmake
          └── ProviderError                      a provider refused or failed a render
                ├── RetryableError               429 / 5xx / overload / reset: try again later
                └── TerminalError                policy rejection, invalid argument: never retry
                      ├── JobGone                one job or its output unknown (404: expired, deleted):
                      │                          failed for good until --resubmit-rejected
                      └── ProviderUnavailable    no key, circuit open: try a fallback route
                            └── RouteGone        the vendor says the model or endpoint is gone

Route-wide or one node's? ``ProviderUnavailable`` (and ``RouteGone``) speak for the whole
route: the executor stops sending it new jobs and may render a node that has no remote job
yet on a fallback route. Every other ``ProviderError`` is about one request or one job (a
404 for an expired video, a deleted file, an unknown job id): that node fails with its
reason, and a job that exists is never replaced by another route's render.

Foreign exceptions (yaml, jsonschema, httpx, subprocess) are translated into this tree at
the boundary with ``raise ... from exc``; nothing above the boundary sees them. Any other
exception is a bug: the CLI reports it as an ``InternalError`` (exit 70, no traceback unless
``--debug``). Each class names its ``kind`` for ``--json`` output (``{"error": {"kind": ...}}``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Longest wait a server may ask for before the next poll of a job, and before a retry.
#: A hint outside [0, max] (a day, ``inf``, ``nan``, negative) is clamped, never obeyed.
POLL_HINT_MAX = 60.0
RETRY_HINT_MAX = 600.0


def clamp_hint(seconds: float | None, maximum: float) -> float | None:
    """A server's "come back in N seconds" as a sane wait: None stays None, ``nan`` is 0.

    The one place every hint passes (``RetryableError.retry_after``, ``JobStatus.poll_after``),
    so an adapter cannot forget it::

        clamp_hint(86400.0, POLL_HINT_MAX)  # -> 60.0
    """
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or value <= 0.0:
        return 0.0
    return min(value, maximum)


#: Exit codes of the ``shotmake`` command (its ``--help`` and the README list them too).
EXIT_OK = 0
EXIT_FAILED = 1  #: the build (or another run) failed; finished renders are kept
EXIT_SPEC = 2  #: a bad spec, a lint error or bad command-line use: nothing was rendered
EXIT_REFUSED = 3  #: refused before spending: over ``--budget`` or the daily cap; nothing was submitted
EXIT_INTERNAL = 70  #: a bug in shotmake (``EX_SOFTWARE`` of sysexits.h)
EXIT_INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT)


class ShotmakeError(Exception):
    """Base of every error shotmake raises deliberately."""

    exit_code = EXIT_FAILED
    #: What went wrong, for scripts: the ``error.kind`` of ``--json`` output.
    kind = "run"


@dataclass(frozen=True)
class SourceLocation:
    """Where in which file a value came from (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SpecError(ShotmakeError):
    """The episode spec is wrong: the message says where, what and how to fix it."""

    exit_code = EXIT_SPEC
    kind = "spec"

    def __init__(
        self,
        message: str,
        *,
        location: SourceLocation | None = None,
        field: str = "",
        hint: str = "",
    ) -> None:
        self.message = message
        self.location = location
        self.field = field
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """Format as ``file:line:col: field: message (hint)``, like a compiler."""
        parts = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        text = ": ".join(parts)
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecErrors(SpecError):
    """Several spec errors found in one pass, reported together."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, location=first.location, field=first.field, hint=first.hint)

    def render(self) -> str:
        return "\n".join(e.render() for e in getattr(self, "errors", [])) or super().render()


class UsageError(ShotmakeError):
    """The command line asked for something impossible (unknown node, bad option)."""

    exit_code = EXIT_SPEC
    kind = "usage"


class RunError(ShotmakeError):
    """A build step failed; carries the node id and provider when known."""

    exit_code = 1

    def __init__(self, message: str, *, node: str = "", provider: str = "") -> None:
        self.message = message
        self.node = node
        self.provider = provider
        prefix = ""
        if node:
            prefix += f"{node}: "
        if provider:
            prefix += f"[{provider}] "
        super().__init__(prefix + message)


class MediaError(RunError):
    """ffmpeg failed, or a file is not the media it should be."""

    kind = "media"


class CacheError(RunError):
    """The object store or its index cannot be read or written."""

    kind = "cache"


class RemoteCacheError(CacheError):
    """The shared remote cache (``[cache] remote``) is misconfigured, down, or lacks a render it must give."""

    kind = "remote_cache"


class BudgetExceeded(RunError):
    """Submitting the next paid job would pass the build's ``--budget``: it was not submitted."""

    kind = "budget"


class SpendRefused(BudgetExceeded):
    """The whole build was refused before anything was submitted: its estimate is over ``--budget`` or
    over what is left of ``[budget] daily`` today. A scheduler can tell it from a failed build (exit 3)."""

    exit_code = EXIT_REFUSED


class FrozenMismatch(RunError):
    """``build --frozen``: the lock file's cut cannot be reproduced from the cache without rendering."""

    kind = "frozen"


class InternalError(RunError):
    """An exception shotmake did not expect: a bug, reported as one (never as a failed render)."""

    exit_code = EXIT_INTERNAL
    kind = "internal"


class ProviderError(RunError):
    """A provider failed a render.

    ``uncertain`` marks a failed create call that may still have reached the server (the
    connection dropped after the request was sent): the job might exist and bill, so it must
    not be blindly created again.
    """

    kind = "provider"

    def __init__(self, message: str, *, node: str = "", provider: str = "", uncertain: bool = False) -> None:
        super().__init__(message, node=node, provider=provider)
        self.uncertain = uncertain


class RetryableError(ProviderError):
    """A transient failure: the same request may succeed later.

    ``retry_after`` is the server's hint in seconds, when it gave one (clamped to
    ``[0, RETRY_HINT_MAX]``).
    """

    def __init__(
        self,
        message: str,
        *,
        node: str = "",
        provider: str = "",
        retry_after: float | None = None,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message, node=node, provider=provider, uncertain=uncertain)
        self.retry_after = clamp_hint(retry_after, RETRY_HINT_MAX)


class TerminalError(ProviderError):
    """A permanent refusal (content policy, invalid argument) or one job's output gone for good.

    Retrying cannot help, and another route must not stand in: a 404 for an expired video or
    a deleted file is this, never ``RouteGone``.
    """


class ProviderUnavailable(TerminalError):
    """The provider cannot take work at all (no key, circuit open).

    Unlike a rejection of *this* request, another route may render the node: the executor
    tries the route's configured ``fallback`` list, for a node with no remote job yet.
    Nothing was created on the provider, unless ``uncertain`` says an earlier create call
    may have reached it.
    """


class RouteGone(ProviderUnavailable):
    """The vendor says the route's model or endpoint is gone (a shutdown notice, model not found).

    Raised by an adapter only for an answer about the model or the API itself (a create or
    generate call answered 404/410, a shutdown notice, an unknown endpoint), never for one
    job's video or file. The route takes no new jobs for the rest of the build.
    """


class JobGone(TerminalError):
    """The provider no longer knows one job or its output (a 404/410 on a poll or a download:
    expired, deleted, created with another account). Asking again gets the same answer, and a new
    create may pay twice, so the node fails for good until ``--resubmit-rejected`` says to create
    the job anew. Never about the model (that is ``RouteGone``)."""


class TransferAborted(RunError):
    """A response broke a limit (its route's size cap, the overall download deadline) and was cut.

    Not retried within the build (the same server would send the same body), and not a
    verdict on the job: a remote job stays in the journal, so the next build fetches it
    again (after the cap is raised, or the server mends).
    """
