"""Run a command as a child process and measure it: wall time, CPU time and peak RSS.

    sample = run_timed([sys.executable, "-c", "import shotmake.cli"], cwd=Path("."))
    sample.wall, sample.cpu, sample.rss_mb
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One run: seconds of wall and of CPU (user + system), peak resident memory in MB, exit code."""

    wall: float
    cpu: float
    rss_mb: float
    code: int
    stderr: str = ""


def run_timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> Sample:
    """Run ``argv`` once; its own resource usage is read with ``wait4`` (children of it included)."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return Sample(wall=wall, cpu=usage.ru_utime + usage.ru_stime, rss_mb=usage.ru_maxrss / 1024,
                  code=proc.returncode, stderr=err.decode(errors="replace"))


@dataclass(frozen=True)
class Summary:
    """Several runs of one command: the minimum (the least disturbed run) and the median."""

    samples: tuple[Sample, ...]

    @property
    def best(self) -> float:
        return min(s.wall for s in self.samples)

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return min(s.cpu for s in self.samples)

    @property
    def rss_mb(self) -> float:
        return max(s.rss_mb for s in self.samples)


def repeat(argv: Sequence[str], cwd: Path, times: int, env: Mapping[str, str] | None = None) -> Summary:
    """Run ``argv`` ``times`` times; raise if any run fails."""
    samples = []
    for _ in range(times):
        sample = run_timed(argv, cwd, env)
        if sample.code != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {sample.code}:\n{sample.stderr[-2000:]}")
        samples.append(sample)
    return Summary(tuple(samples))


def interleaved(commands: Mapping[str, tuple[Sequence[str], Path]], times: int,
                env: Mapping[str, str] | None = None) -> dict[str, Summary]:
    """Run several commands in turn, ``times`` rounds, so they share the machine's ups and downs."""
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(times):
        for name, (argv, cwd) in commands.items():
            sample = run_timed(argv, cwd, env)
            if sample.code != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {sample.code}:\n{sample.stderr[-2000:]}")
            samples[name].append(sample)
    return {name: Summary(tuple(s)) for name, s in samples.items()}
