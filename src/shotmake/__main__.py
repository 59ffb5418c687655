"""The ``shotmake`` command (console script) and ``python -m shotmake``.

A plain ``plan SPEC`` or ``build -n SPEC`` is run without click (``quick.py``). Two costs of
CPython's start-up and shut-down are skipped for short commands (``plan``, ``status``,
``validate``, a null ``build``...), where together they were a quarter of the time:

* The cycle collector is off from the start: importing a hundred modules and their classes
  makes CPython run collections that find nothing. A command that goes on to long work
  (rendering, transfers, serving) turns it back on (``execute.Executor.run``, ``remote_cli``,
  ``review_cli``).
* A command that ended with the collector still off, and no thread but the main one, has
  finished all its work: every file it wrote was closed and renamed, every database closed. Its
  output is flushed and the process exits at once, without the interpreter's teardown (freeing
  each module and object one by one, which the operating system does at exit anyway).
"""

from __future__ import annotations

import gc
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    gc.disable()
    from .quick import run as quick

    code = quick(sys.argv[1:] if argv is None else argv)
    if code is None:
        from .cli import main as run

        code = run(argv)
    import threading

    if not gc.isenabled() and threading.active_count() == 1:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`shotmake plan | head`): nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
