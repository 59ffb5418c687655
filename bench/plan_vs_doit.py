"""Plan after one edit: ``shotmake plan`` and ``build -n`` against ``doit list --all --status`` (issue 15).

The edit loop runs ``plan`` (or ``build``) right after saving one change, so what the
decision costs then is what a creator waits for dozens of times a day. The peer is doit, a
Python task runner whose up-to-date check is the model for shotmake's, on an equivalent
pipeline: one task per shot with file dependencies (the shot's input and a shared style file,
as every shot depends on the series bible) and a render-like action, plus one assemble task
over every output. Both caches are complete before timing; then one shot's input changes and
each tool is asked what is out of date:

* shotmake: the synthetic episode of ``bench/synth.py`` (cache seeded by ``bench/seed.py``,
  built twice, as in ``bench/scale.py``); before every round one shot's prompt is rewritten
  (a new text each round, so no snapshot ever serves it), then ``shotmake plan EP`` and
  ``shotmake build -n EP`` run;
* doit: before every round the same shot's input file gets a new text, then
  ``doit list --all --status`` prints every task with its status (``--all`` includes the
  per-shot tasks, as ``plan`` decides every node; plain ``--status`` is reported too).

All commands of a size alternate in the same rounds; the best of the rounds is compared.

    .venv/bin/python bench/plan_vs_doit.py [--sizes 100,1000,10000] [--repeat 5] [--write]

``--write`` puts the figures (target, ratio and verdict per size) into docs/benchmarks.md: its
rows of the summary table and the table of its own section, as ``bench/run.py`` writes them.

doit is a benchmark-only dependency (``pip install -e '.[bench]'``); when it is missing this
script installs it into the running interpreter's environment with pip, and says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import scale
from timing import Sample, run_timed

SHOTMAKE = [sys.executable, "-m", "shotmake"]
DOIT = [sys.executable, "-m", "doit"]
EDITED = 5  # the shot whose prompt changes

DODO = '''"""An equivalent pipeline for bench/plan_vs_doit.py: one render task per shot, one assemble task."""
N = {shots}


def render(dependencies, targets):
    with open(targets[0], "w") as out:
        for name in sorted(dependencies):
            with open(name) as source:
                out.write(source.read())


def task_render():
    for i in range(N):
        yield {{"name": f"s{{i:05d}}", "file_dep": [f"in/s{{i:05d}}.txt", "style.txt"],
               "targets": [f"out/s{{i:05d}}.mp4"], "actions": [render]}}


def task_assemble():
    return {{"file_dep": [f"out/s{{i:05d}}.mp4" for i in range(N)], "targets": ["out/episode.mp4"],
             "actions": [render]}}
'''


def ensure_doit() -> None:
    """Install doit into this environment when it is missing (benchmark only, never a shotmake dependency)."""
    if importlib.util.find_spec("doit") is None:
        print("bench: doit is not installed; installing it for this benchmark only "
              "(`pip install -e '.[bench]'` does the same)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "doit>=0.36"], check=True)


def doit_project(folder: Path, shots: int) -> None:
    """The doit pipeline of ``shots`` tasks, run once so every task is up to date."""
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    (folder / "style.txt").write_text("hand-drawn anime, soft cel shading\n")
    for i in range(shots):
        (folder / "in" / f"s{i:05d}.txt").write_text(f"prompt of shot {i}\n")
    (folder / "dodo.py").write_text(DODO.format(shots=shots))
    done = subprocess.run([*DOIT, "-n", "1"], cwd=folder, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)


def shotmake_project(folder: Path, shots: int) -> Path:
    """The synthetic episode with a full cache, built twice (lock, outputs, snapshot, remembered entries)."""
    spec = scale.project(folder, shots)
    scale.fill(folder, spec, real=False)
    for _ in range(2):
        warm = run_timed([*SHOTMAKE, "build", "-q", spec.name], folder)
        if warm.code != 0:
            raise RuntimeError(warm.stderr)
    return spec


def edit(spec: Path, doit_folder: Path, round_: int) -> None:
    """Change shot EDITED's prompt in the episode and its input in the doit pipeline (new text each round)."""
    text = spec.read_text()
    marker = f"shot {EDITED}"
    start = text.index(marker)
    end = text.index(".", start)
    spec.write_text(text[:start] + f"{marker} (take {round_})" + text[end:])
    (doit_folder / "in" / f"s{EDITED:05d}.txt").write_text(f"prompt of shot {EDITED}, take {round_}\n")


def measure(root: Path, sizes: list[int], times: int) -> dict[str, Any]:
    """Best and median seconds of each command at each size, and shotmake's ratio to doit."""
    ensure_doit()
    scale.compile_bytecode()
    results: dict[str, Any] = {}
    for shots in sizes:
        doit_folder = root / f"doit-{shots}"
        doit_project(doit_folder, shots)
        folder = root / f"shotmake-{shots}"
        spec = shotmake_project(folder, shots)
        commands = {
            "plan": ([*SHOTMAKE, "plan", spec.name], folder),
            "build_n": ([*SHOTMAKE, "build", "-n", spec.name], folder),
            "doit_all": ([*DOIT, "list", "--all", "--status"], doit_folder),
            "doit": ([*DOIT, "list", "--status"], doit_folder),
        }
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        for round_ in range(times):
            edit(spec, doit_folder, round_)
            for name, (argv, cwd) in commands.items():
                sample = run_timed(argv, cwd)
                if sample.code != 0:
                    raise RuntimeError(f"{' '.join(argv)} exited {sample.code}:\n{sample.stderr[-2000:]}")
                samples[name].append(sample)
        row: dict[str, Any] = {"shots": shots}
        for name, runs in samples.items():
            walls = sorted(s.wall for s in runs)
            row[name] = {"best": walls[0], "median": walls[len(walls) // 2], "cpu": min(s.cpu for s in runs)}
        row["ratio_plan"] = row["plan"]["best"] / row["doit_all"]["best"]
        row["ratio_build_n"] = row["build_n"]["best"] / row["doit_all"]["best"]
        results[str(shots)] = row
        print(f"  plan after one edit, {shots:,} shots: shotmake plan {row['plan']['best'] * 1000:.0f} ms, "
              f"build -n {row['build_n']['best'] * 1000:.0f} ms, doit list --all --status "
              f"{row['doit_all']['best'] * 1000:.0f} ms (plain --status {row['doit']['best'] * 1000:.0f} ms): "
              f"{row['ratio_plan']:.2f}x", flush=True)
    return results


GOAL = "<= 1.0x `doit list --all --status`"


def summary_rows(results: dict[str, Any]) -> list[str]:
    """The rows of docs/benchmarks.md's summary table: each command at each size, with its verdict."""
    rows = []
    for row in results.values():
        for name, what in (("plan", "`shotmake plan`"), ("build_n", "`shotmake build -n`")):
            ratio = row[name]["best"] / row["doit_all"]["best"]
            rows.append(f"| {what} after one edit, {row['shots']:,} shots, vs doit | {GOAL} | "
                        f"{row[name]['best'] * 1000:.0f} ms | doit {row['doit_all']['best'] * 1000:.0f} ms | "
                        f"{ratio:.2f}x | {'PASS' if ratio <= 1.0 else 'FAIL'} |")
    return rows


def detail_rows(results: dict[str, Any]) -> list[str]:
    """The rows of the section's own table: best / median of the rounds, CPU of the best."""
    return [f"| {r['shots']:,} | {r['plan']['best'] * 1000:.0f} / {r['plan']['median'] * 1000:.0f} ms "
            f"({r['plan']['cpu'] * 1000:.0f} CPU) | {r['build_n']['best'] * 1000:.0f} / "
            f"{r['build_n']['median'] * 1000:.0f} ms | {r['doit_all']['best'] * 1000:.0f} / "
            f"{r['doit_all']['median'] * 1000:.0f} ms ({r['doit_all']['cpu'] * 1000:.0f} CPU) | "
            f"{r['doit']['best'] * 1000:.0f} ms | {r['ratio_plan']:.2f}x |" for r in results.values()]


#: What the decision does and what made it fast, printed under the table by ``bench/run.py``
#: (``--write`` here replaces only the rows). Approximate costs, measured when each step was made.
EXPLAINED = [
    "What the decision does after a one-shot edit: the snapshot's text and shot positions tell which",
    "shot's lines changed; that shot alone is parsed, checked and planned, the other shots' nodes,",
    'order and per-shot lint findings come from the snapshot (`src/shotmake/spec_delta.py`), node',
    'manifests stay undecoded JSON text, and the keys the last build recorded are taken as cached',
    "while the cache's index and object folders are unchanged (as a null build trusts its stamp).",
    'The decision itself takes ~10 ms at 100 shots and ~40 ms at 1,000 (timed in-process with every',
    'module loaded); the rest is starting Python (10 ms for `python -c pass`) and loading modules.',
    'Before the start-up work below the same benchmark gave 1.33x (100 shots) and 1.32x (1,000).',
    'What it did, each step measured on the 100- or 1,000-shot case:',
    '',
    '- The cycle collector is off until a build, transfer or server starts (`shotmake/__main__.py`):',
    '  loading ~170 modules made CPython run collections that found nothing (~3-8 ms).',
    '- A command that ran no long work and left no thread flushes its output and exits without the',
    "  interpreter's teardown (~12 ms when loading the same modules; every file it wrote was already",
    '  closed and renamed).',
    "- `plan EPISODE` and `build -n EPISODE` are decided without click (`quick.py` runs the command's",
    '  own code, `session.plan_one`; any error hands the command line back to click): ~5-6 ms.',
    '- A changed shot written as plain `key: value` lines is read by `plain_yaml.py` instead of',
    '  PyYAML, which is then never imported (~7 ms). It answers what PyYAML answers or leaves the',
    '  item to it: compared on every demo shot, each surprising YAML 1.1 scalar, and 4,000 generated',
    '  items (`tests/test_plain_yaml.py`).',
    '- The route catalog is read from `routes.json`, routes.toml parsed and checked, while the',
    '  digest of routes.toml matches (8.2 ms to 2.7 ms).',
    "- Small inputs are hashed with CPython's own SHA-256, so a short command never loads OpenSSL",
    '  (~2 ms); snapshots and stamps carry a CRC-32 instead of a SHA-256 (no hashing of a 2 MB',
    '  snapshot at 1,000 shots, ~3 ms); `plan` asks which routes have keys of',
    "  `providers/availability.py`, without the adapters' registry (~2 ms).",
    '- Snapshot records decode only the fields that need it (~3 ms at 1,000 shots).',
    '',
    "What is left of start-up, by group (one process, collector off): the standard library's json,",
    "re, dataclasses (with inspect), pathlib and typing ~18 ms; the spec model's twelve frozen",
    "dataclasses ~5 ms (CPython 3.11 compiles each generated method); shotmake.toml's settings",
    '~3 ms; the route catalog ~3 ms.',
]


def write_doc(results: dict[str, Any], doc: Path, load: str) -> None:
    """Replace this benchmark's rows in ``doc`` (summary and section tables); say the run's load average."""
    lines = doc.read_text().splitlines()
    summary = [i for i, line in enumerate(lines) if line.startswith(("| `shotmake plan` after one edit",
                                                                     "| `shotmake build -n` after one edit"))]
    head = next(i for i, line in enumerate(lines) if line.startswith("| shots | `shotmake plan` |"))
    body = head + 2
    end = body
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    note = next((i for i in range(end, min(end + 3, len(lines))) if lines[i].startswith("Measured by")), None)
    stamp = f"Measured by `bench/plan_vs_doit.py --write`, load average at start {load}."
    if note is not None:
        lines[note] = stamp
    lines[body:end] = detail_rows(results) + ([] if note is not None else ["", stamp])
    if summary:
        lines[summary[0]:summary[-1] + 1] = summary_rows(results)
    doc.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="put the figures into docs/benchmarks.md")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="shotmake-doit-") as tmp:
        results = measure(Path(tmp), [int(s) for s in args.sizes.split(",")], args.repeat)
    print(json.dumps(results, indent=1))
    if args.write:
        write_doc(results, BENCH.parent / "docs" / "benchmarks.md", load)
        print("wrote the plan-after-edit rows of docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
