"""The exception tree: every error shotmake raises on purpose.

    ShotmakeError                  exit_code 1
    ├── SpecError                  exit_code 2   the user must fix the episode files
    │     (file, line, column, field path, hint)
    ├── UsageError                 exit_code 2   bad command-line use
    └── RunError                   exit_code 1   something failed while building
          ├── MediaError                         ffmpeg failed or a file is not valid media
          ├── CacheError                         the object store or index is unusable
          ├── BudgetExceeded                     the next paid job would pass `build --budget`
          └── ProviderError                      a provider refused or failed a render
                ├── RetryableError               429 / 5xx / overload / reset: try again later
                └── TerminalError                policy rejection, invalid argument: never retry
                      └── ProviderUnavailable    no key, circuit open, endpoint shut down: try a fallback route

Foreign exceptions (yaml, jsonschema, httpx, subprocess) are translated into this tree at
the boundary with ``raise ... from exc``; nothing above the boundary sees them.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShotmakeError(Exception):
    """Base of every error shotmake raises deliberately."""

    exit_code = 1


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

    exit_code = 2

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

    exit_code = 2


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


class CacheError(RunError):
    """The object store or its index cannot be read or written."""


class BudgetExceeded(RunError):
    """Submitting the next paid job would pass the build's ``--budget``: it was not submitted."""


class ProviderError(RunError):
    """A provider failed a render.

    ``uncertain`` marks a failed create call that may still have reached the server (the
    connection dropped after the request was sent): the job might exist and bill, so it must
    not be blindly created again.
    """

    def __init__(self, message: str, *, node: str = "", provider: str = "", uncertain: bool = False) -> None:
        super().__init__(message, node=node, provider=provider)
        self.uncertain = uncertain


class RetryableError(ProviderError):
    """A transient failure: the same request may succeed later.

    ``retry_after`` is the server's hint in seconds, when it gave one.
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
        self.retry_after = retry_after


class TerminalError(ProviderError):
    """A permanent refusal (content policy, invalid argument): retrying cannot help."""


class ProviderUnavailable(TerminalError):
    """The provider cannot take work at all (no key, circuit open, endpoint shut down).

    Unlike a rejection of *this* request, another route may render the node: the executor
    tries the route's configured ``fallback`` list. Nothing was created on the provider,
    unless ``uncertain`` says an earlier create call may have reached it.
    """
