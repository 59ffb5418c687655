"""Null rebuilds and cold plans of synthetic episodes of 100, 1,000 and 10,000 shots.

* Null rebuild: ``shotmake build -q`` when everything is cached, whole process, against
  ``python -c "import shotmake.cli"`` run alternately with it (the start-up baseline). The
  100-shot cache is filled by a real build with the local provider; the 1,000- and
  10,000-shot caches are seeded (``bench/seed.py``: every node of the real plan gets a small
  object and index entry, as a render would leave), and the 100-shot episode is also timed
  from a seeded cache to show the two agree. Two builds run before timing: the first writes
  the lock file, outputs and snapshot, the second remembers the index entries (spec files are
  dated back an hour: a snapshot is only saved for files that have settled).
* Cold plan: ``shotmake plan`` with an empty cache directory, against composing the same
  YAML with PyYAML's C loader (the parse floor, in the same process).

    .venv/bin/python bench/scale.py [--sizes 100,1000,10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import synth
from timing import interleaved, run_timed

SHOTMAKE = [sys.executable, "-m", "shotmake"]
STARTUP = [sys.executable, "-c", "import shotmake.cli"]


def project(folder: Path, shots: int) -> Path:
    """A project (``shotmake.toml`` marks its root) with the synthetic episode; files dated back an hour."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shotmake.toml").write_text("")
    spec = synth.write(folder, shots)
    past = time.time() - 3600
    for path in folder.rglob("*.yaml"):
        os.utime(path, (past, past))
    return spec


def fill(folder: Path, spec: Path, real: bool) -> float:
    """Fill ``folder/.shotmake``: a real local build, or seeded. Returns the seconds it took."""
    start = time.perf_counter()
    if real:
        sample = run_timed([*SHOTMAKE, "build", "-q", spec.name], folder)
        if sample.code != 0:
            raise RuntimeError(sample.stderr)
    else:  # in a child, so this process stays small (see bench/peak.py)
        sample = run_timed([sys.executable, str(BENCH / "seed.py"), spec.name, ".shotmake"], folder)
        if sample.code != 0:
            raise RuntimeError(sample.stderr)
    return time.perf_counter() - start


def peak_rss_mb(argv: list[str], cwd: Path) -> float:
    """Peak RSS of ``shotmake ARGV`` measured inside it (``bench/peak.py``)."""
    with tempfile.NamedTemporaryFile(prefix="shotmake-rss-") as out:
        sample = run_timed([sys.executable, str(BENCH / "peak.py"), *argv], cwd, {**os.environ, "PEAK_OUT": out.name})
        if sample.code != 0:
            raise RuntimeError(sample.stderr)
        return int(Path(out.name).read_text()) / 1024


def compile_bytecode() -> None:
    """Write shotmake's .pyc files, as installing a wheel does.

    An editable install leaves them to the first import, which skips writing them under
    ``PYTHONDONTWRITEBYTECODE`` (set on some CI machines): every run would then compile the
    sources again (~60 ms), the baseline's imports included, and measure the compiler.
    """
    import compileall

    import shotmake

    compileall.compile_dir(str(Path(shotmake.__file__).parent), quiet=1)


def null_rebuilds(root: Path, sizes: list[int], times: int) -> dict[str, Any]:
    """Time null rebuilds of each size, alternating with the start-up baseline."""
    compile_bytecode()
    results: dict[str, Any] = {"sizes": {}}
    commands: dict[str, tuple[list[str], Path]] = {"startup": (STARTUP, root)}
    for shots in sizes:
        variants = [("real", True), ("seeded", False)] if shots <= 100 else [("seeded", False)]
        for how, real in variants:
            folder = root / f"null-{shots}-{how}"
            spec = project(folder, shots)
            filled = fill(folder, spec, real)
            for _ in range(2):  # writes lock, outputs and snapshot; then the remembered index entries
                warm = run_timed([*SHOTMAKE, "build", "-q", spec.name], folder)
                if warm.code != 0:
                    raise RuntimeError(warm.stderr)
            nodes = len(json.loads(run_plan_json(folder, spec))["cached"])
            results["sizes"][f"{shots}-{how}"] = {"shots": shots, "how": how, "nodes": nodes, "fill_s": filled}
            commands[f"{shots}-{how}"] = ([*SHOTMAKE, "build", "-q", spec.name], folder)
            # --json needs the plan: the full path (snapshot, index lookups) without the up-to-date stamp.
            commands[f"{shots}-{how}-full"] = ([*SHOTMAKE, "build", "-q", "--json", spec.name], folder)
            print(f"  null rebuild {shots} shots ({how}): {nodes} nodes, cache filled in {filled:.1f} s", flush=True)
    timed = interleaved(commands, times)
    results["startup"] = {"best": timed["startup"].best, "median": timed["startup"].median,
                          "cpu": timed["startup"].cpu}
    for name, summary in timed.items():
        if name.endswith("-full"):
            results["sizes"][name.removesuffix("-full")].update(full_best=summary.best, full_median=summary.median)
        elif name != "startup":
            argv, folder = commands[name]
            results["sizes"][name].update(best=summary.best, median=summary.median, cpu=summary.cpu,
                                          rss_mb=peak_rss_mb(argv[3:], folder))
    return results


def run_plan_json(folder: Path, spec: Path) -> str:
    import subprocess

    proc = subprocess.run([*SHOTMAKE, "plan", "--json", spec.name], cwd=folder, capture_output=True, text=True,
                          check=True)
    return proc.stdout


def cold_plans(root: Path, sizes: list[int], times: int) -> dict[str, Any]:
    """Time ``shotmake plan`` with no cache at all, and the bare YAML parse of the same files."""
    import yaml

    results: dict[str, Any] = {}
    for shots in sizes:
        folder = root / f"cold-{shots}"
        spec = project(folder, shots)
        samples = []
        for _ in range(times):
            shutil.rmtree(folder / ".shotmake", ignore_errors=True)
            sample = run_timed([*SHOTMAKE, "plan", spec.name], folder)
            if sample.code != 0:
                raise RuntimeError(sample.stderr)
            samples.append(sample)
        texts = [spec.read_text(), (folder / "series" / "bible.yaml").read_text()]
        parse = []
        for _ in range(times):
            start = time.perf_counter()
            for text in texts:
                yaml.compose(text, Loader=yaml.CSafeLoader)
            parse.append(time.perf_counter() - start)
        shutil.rmtree(folder / ".shotmake", ignore_errors=True)
        results[str(shots)] = {"shots": shots, "best": min(s.wall for s in samples),
                               "cpu": min(s.cpu for s in samples), "yaml_best": min(parse),
                               "rss_mb": peak_rss_mb(["plan", spec.name], folder)}
        print(f"  cold plan {shots} shots: {results[str(shots)]['best']:.2f} s "
              f"(YAML compose alone {min(parse):.2f} s)", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="shotmake-scale-") as tmp:
        print(json.dumps({"null": null_rebuilds(Path(tmp), sizes, args.repeat),
                          "cold": cold_plans(Path(tmp), sizes, max(3, args.repeat // 2))}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
