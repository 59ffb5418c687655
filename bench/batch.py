"""A null batch build of a series: 20 episodes of 100 shots in one ``shotmake build FOLDER``.

Baseline, measured in the same run and alternating with it: the loop a nightly job ran before
batch builds, 20 separate ``shotmake build -q EPISODE`` processes. Both are timed on the plain
path (the up-to-date stamps answer) and on the full path (``--json``: every episode's plan
decoded from its snapshot and every node looked up in the cache index). The cache is seeded
(``bench/seed.py``), then built twice before timing (lock files, outputs, snapshots, stamps).

    .venv/bin/python bench/batch.py [--episodes 20] [--shots 100] [--repeat 5] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BEGIN, END = "<!-- bench:batch -->", "<!-- /bench:batch -->"
sys.path.insert(0, str(BENCH))

import benchdoc
import synth
from timing import interleaved, run_timed

SHOTMAKE = [sys.executable, "-m", "shotmake"]


def series(folder: Path, episodes: int, shots: int) -> list[Path]:
    """A project with ``episodes`` synthetic episodes sharing one bible; prompts differ per episode."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shotmake.toml").write_text("")
    specs = folder / "episodes"
    synth.write(specs, 1)
    (specs / "ep1.yaml").unlink()
    paths = []
    for n in range(episodes):
        name = f"ep{n:02d}"
        path = specs / f"{name}.yaml"
        path.write_text(synth.episode(shots, name).replace(", shot ", f", {name} shot "), encoding="utf-8")
        paths.append(path)
    past = time.time() - 3600  # a snapshot is only saved for files that have settled
    for path in folder.rglob("*.yaml"):
        os.utime(path, (past, past))
    return paths


def check(argv: list[str], cwd: Path) -> None:
    sample = run_timed(argv, cwd)
    if sample.code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {sample.code}:\n{sample.stderr[-2000:]}")


def measure(episodes: int = 20, shots: int = 100, times: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shotmake-batch-") as tmp:
        folder = Path(tmp) / "series"
        specs = series(folder, episodes, shots)
        for spec in specs:
            check([sys.executable, str(BENCH / "seed.py"), str(spec.relative_to(folder)), ".shotmake"], folder)
        for _ in range(2):
            check([*SHOTMAKE, "build", "-q", "episodes"], folder)
        out = subprocess.run([*SHOTMAKE, "build", "-q", "--json", "episodes"], cwd=folder, capture_output=True,
                             text=True, check=True).stdout
        data = json.loads(out)
        nodes = data["total"]["cached"]
        loop = " ".join(f"{' '.join(SHOTMAKE)} build -q {{json}} {s.relative_to(folder)} >/dev/null &&" for s in specs)
        commands = {
            "batch": ([*SHOTMAKE, "build", "-q", "episodes"], folder),
            "loop": (["sh", "-c", loop.replace("{json}", "") + " true"], folder),
            "batch-full": ([*SHOTMAKE, "build", "-q", "--json", "episodes"], folder),
            "loop-full": (["sh", "-c", loop.replace("{json}", "--json") + " true"], folder),
        }
        timed = interleaved(commands, times)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    result: dict[str, Any] = {"episodes": episodes, "shots": shots, "nodes": nodes, "load": load,
                              "cpus": os.cpu_count()}
    for name, summary in timed.items():
        result[name] = {"best": summary.best, "median": summary.median, "cpu": summary.cpu}
    return result


def render(r: dict[str, Any]) -> str:
    rows = []
    for path, label in (("", "plain (up-to-date stamps)"), ("-full", "full (`--json`: plans and index lookups)")):
        batch, loop = r[f"batch{path}"], r[f"loop{path}"]
        rows.append(f"| {label} | {batch['best'] * 1000:.0f} / {batch['median'] * 1000:.0f} ms | "
                    f"{loop['best'] * 1000:.0f} / {loop['median'] * 1000:.0f} ms | "
                    f"{loop['best'] / batch['best']:.1f}x |")
    return "\n".join([
        BEGIN,
        "## Batch builds (issue 18): a null build of a series in one run",
        "",
        f"`bench/batch.py`: {r['episodes']} synthetic episodes of {r['shots']} shots sharing one series bible "
        f"({r['nodes']:,} nodes in all), cache seeded and built twice before timing. One `shotmake build -q "
        f"episodes/` against the loop a nightly job ran before, {r['episodes']} separate `shotmake build -q "
        "EPISODE` processes, alternating in the same run (best / median wall time); "
        f"{r['cpus']} CPUs, load average at the end {r['load']}.",
        "",
        f"| path | one batch build | {r['episodes']} single builds | speed-up |",
        "|---|---|---|---|",
        *rows,
        "",
        "The batch pays the interpreter's start-up and shotmake's imports once instead of once per",
        "episode; per episode it does the same work (stamp check, or snapshot decode and index lookups).",
        END,
    ])


def write_section(text: str) -> None:
    benchdoc.write_section(BEGIN, END, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--shots", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    result = measure(args.episodes, args.shots, args.repeat)
    text = render(result)
    print(text)
    if not args.no_doc:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
