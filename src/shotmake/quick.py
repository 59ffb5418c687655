"""``shotmake plan SPEC`` (and ``build -n SPEC``) without click: the edit loop's most frequent
command, decided in full.

Loading click and the command line's ~30 commands costs about 6 ms, a tenth of a plan after a
one-shot edit of a 100-shot episode. The plain form ``shotmake plan SPEC`` (one spec file, no
options, no ``SHOTMAKE_CACHE``/``SHOTMAKE_OUT``) is run here by the same code as the command
(``session.plan_one``) in a context of its own. What it prints is held until it has finished:
on any error nothing is printed and the full command line runs the command again, so every
error, exit code and message is the command line's own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import session
from .errors import EXIT_INTERRUPTED


class QuickContext:
    """The parts of ``click.Context`` the session reads: ``meta``, ``params``, ``obj``, the command's name."""

    def __init__(self, command: str, params: dict[str, Any]) -> None:
        self.command = SimpleNamespace(name=command)
        self.params = params
        self.meta: dict[str, Any] = {}
        self.obj = session.Settings()
        self.printed: list[tuple[bool, str]] = []

    def ensure_object(self, kind: type) -> Any:
        return self.obj

    def echo(self, message: str, err: bool) -> None:
        self.printed.append((err, message))


#: The command lines run here, as (command, options): ``build -n`` prints what ``plan`` prints.
PLAIN = {("plan",): ("plan", {}), ("build", "-n"): ("build", {"dry_run": True}),
         ("build", "--dry-run"): ("build", {"dry_run": True})}


def plain_plan(argv: list[str]) -> Path | None:
    """The spec of ``plan SPEC`` (or ``build -n SPEC``) with nothing else on the line or in the
    environment that changes it."""
    if len(argv) < 2 or tuple(argv[:-1]) not in PLAIN or argv[-1].startswith("-"):
        return None
    if any(os.environ.get(name) for name in ("SHOTMAKE_CACHE", "SHOTMAKE_OUT")):
        return None
    spec = Path(argv[-1])
    return spec if spec.suffix in (".yaml", ".yml") and spec.is_file() else None


def run(argv: list[str]) -> int | None:
    """Run ``argv`` here when it is a plain ``plan SPEC`` or ``build -n SPEC`` that succeeds: its exit
    code, else None."""
    spec = plain_plan(argv)
    if spec is None:
        return None
    command, options = PLAIN[tuple(argv[:-1])]
    ctx = QuickContext(command, {"episodes": (spec,), "as_json": False, **options})
    try:
        with session.running(ctx):
            session.plan_one(ctx, spec, as_json=False)
    except KeyboardInterrupt:
        print("shotmake: interrupted: finished renders are kept; run the build again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # the command line runs it again and says what went wrong, its way
        return None
    printed = sorted(ctx.printed, key=lambda item: not item[0])  # stderr's warnings came first anyway
    if not all(_printable(message, sys.stderr if err else sys.stdout) for err, message in printed):
        return None  # a terminal that cannot show some text: the command line prints it its way
    try:
        for err, message in printed:
            print(message, file=sys.stderr if err else sys.stdout)
    except BrokenPipeError:  # `shotmake plan SPEC | head`: the reader has what it wanted
        pass
    return 0


def _printable(message: str, stream: Any) -> bool:
    try:
        message.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
