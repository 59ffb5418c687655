"""Benchmark the edit loop's assembly (issue 15): a one-shot edit against a cold assembly, same run.

An episode of N shots (default 60 x 8 s at 1080p, 24 fps, the local provider) in sequences of
ten (the first one crossfaded), with ``loudness`` and both renditions (vertical, proxy), is
built cold; then one shot's prompt (in the middle of a cut sequence) is changed and it is
built again. Both builds run ``-j 1`` in a fresh process, so each node's ``elapsed`` (kept in
its cache metadata) is its whole cost:

* cold assembly: the sum of every non-clip node's time in the cold build;
* the edit's cost beyond the changed shot's render: the rebuild's wall time (process start,
  plan, every node) minus that one clip's render.

Target: the edit's cost <= 10 % of the cold assembly. Writes the "Edit loop: assembly"
section of docs/benchmarks.md (between its markers) unless ``--no-write``.

    .venv/bin/python bench/incremental.py [--shots 60] [--seconds 8] [--resolution 1080p]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import benchdoc

from shotmake.cache import Cache

BEGIN, END = "<!-- bench:incremental -->", "<!-- /bench:incremental -->"
TARGET = 0.10


def spec(shots: int, seconds: float, resolution: str, edited: bool) -> str:
    """The episode: sequences of ten shots, the first crossfaded; shot ``edit_at`` edited or not."""
    edit_at = shots // 2 + 5 if shots >= 20 else shots // 2
    lines = ["version: 1", "episode: bench", f"defaults: {{provider: local, resolution: {resolution}, "
             f"duration: {seconds}, fps: 24}}", "shots:"]
    for i in range(shots):
        prompt = f"shot {i}: the harbour at dawn, boats {i % 7}"
        if edited and i == edit_at:
            prompt += ", now in the rain"
        lines += [f"  - id: s{i:03d}", f'    prompt: "{prompt}"', f'    subtitle: "Line {i}."']
    lines.append("sequences:")
    for n, first in enumerate(range(0, shots, 10)):
        ids = ", ".join(f"s{i:03d}" for i in range(first, min(shots, first + 10)))
        lines += [f"  - id: q{n}", f"    shots: [{ids}]"]
        if n == 0:
            lines.append("    transition: {kind: crossfade, seconds: 0.5}")
    lines += ["delivery:", "  loudness: -16", "  renditions: [vertical, proxy]"]
    return "\n".join(lines) + "\n"


def build(root: Path) -> tuple[float, dict[str, Any]]:
    """One build in a fresh process; its wall time and JSON summary."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "shotmake", "--cache-dir", str(root / "cache"), "build",
                           "-j", "1", "episodes/bench.yaml", "--json", "-q"], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout)
    return wall, summary


def elapsed_by_kind(root: Path, summary: dict[str, Any]) -> dict[str, float]:
    cache = Cache(root / "cache")
    spent: dict[str, float] = defaultdict(float)
    for entry in summary["rendered"]:
        artifact = cache.lookup(entry["key"])
        if artifact is not None:
            spent[entry["kind"]] += float(artifact.meta.get("elapsed", 0.0))
    return dict(spent)


def measure(shots: int, seconds: float, resolution: str, write: bool = True) -> dict[str, Any]:
    """Run the benchmark, print (and with ``write``, store) its section; return the headline numbers."""
    with tempfile.TemporaryDirectory(prefix="shotmake-bench-edit-") as tmpdir:
        root = Path(tmpdir)
        (root / "episodes").mkdir()
        (root / "shotmake.toml").touch()
        episode = root / "episodes" / "bench.yaml"
        episode.write_text(spec(shots, seconds, resolution, edited=False))
        cold_wall, cold = build(root)
        cold_spent = elapsed_by_kind(root, cold)
        episode.write_text(spec(shots, seconds, resolution, edited=True))
        edit_wall, edit = build(root)
        edit_spent = elapsed_by_kind(root, edit)
        rebuilt = [e["id"] for e in edit["rendered"]]
    cold_assembly = sum(t for kind, t in cold_spent.items() if kind != "clip")
    clip = edit_spent.get("clip", 0.0)
    beyond = edit_wall - clip
    ratio = beyond / cold_assembly
    kinds = sorted(set(cold_spent) | set(edit_spent), key=lambda k: -cold_spent.get(k, 0.0))
    lines = [
        "## Edit loop: assembly after a one-shot edit (issue 15)",
        "",
        f"`bench/incremental.py`, {time.strftime('%Y-%m-%d')}: {shots} x {seconds:g} s {resolution} local shots "
        f"in sequences of ten (the first crossfaded), `loudness: -16`, `renditions: [vertical, proxy]`; "
        "built cold, then again after one shot's prompt changed, each `build -j 1` in a fresh process.",
        "",
        "| target | goal | measured | baseline (same run) | ratio | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| one-shot edit, time beyond the changed shot's render | <= 10 % of a cold assembly | {beyond:.1f} s | "
        f"cold assembly {cold_assembly:.1f} s | {ratio * 100:.1f} % | {'PASS' if ratio <= TARGET else 'FAIL'} |",
        "",
        f"Cold build {cold_wall:.1f} s wall ({cold_spent.get('clip', 0.0):.1f} s of it rendering the clips). "
        f"The edit: {edit_wall:.1f} s wall, of which {clip:.1f} s rendered the changed clip; "
        f"{len(rebuilt)} nodes built: {', '.join(sorted(rebuilt))}.",
        "",
        "| node kind | cold build s | after the edit s |",
        "|---|---|---|",
        *(f"| {kind} | {cold_spent.get(kind, 0.0):.2f} | {edit_spent.get(kind, 0.0):.2f} |" for kind in kinds),
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if write:
        benchdoc.write_section(BEGIN, END, f"{BEGIN}\n{section}{END}")
    return {"beyond": beyond, "cold_assembly": cold_assembly, "ratio": ratio, "shots": shots,
            "seconds": seconds, "resolution": resolution, "rebuilt": len(rebuilt)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--resolution", default="1080p", choices=["480p", "720p", "1080p"])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    measure(args.shots, args.seconds, args.resolution, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
