"""The ``shotmake`` command (console script) and ``python -m shotmake``.

The cycle collector is off from here on: start-up builds a hundred modules and their
classes, which makes CPython run collections that find nothing (about a tenth of a short
command's time). A command that goes on to long work (rendering, transfers, serving)
turns it back on (``execute.Executor.run``, ``remote_cli``, ``review_cli``).
"""

from __future__ import annotations

import gc
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    gc.disable()
    from .cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
