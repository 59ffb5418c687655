"""Run ``shotmake ARGS`` in this process and write its peak resident memory (KB) to ``$PEAK_OUT``.

``ru_maxrss`` of a child counts the memory of the process it was forked from (a big benchmark
driver inflates every small child); ``VmHWM`` in ``/proc/self/status`` belongs to the program
after ``exec`` alone. Linux only; elsewhere ``ru_maxrss`` is written instead.

    PEAK_OUT=/tmp/rss .venv/bin/python bench/peak.py build -q episode.yaml
"""

from __future__ import annotations

import os
import resource
import sys

from shotmake.cli import main


def peak_kb() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    code = main(sys.argv[1:])
    with open(os.environ["PEAK_OUT"], "w", encoding="ascii") as out:
        out.write(str(peak_kb()))
    sys.exit(code)
