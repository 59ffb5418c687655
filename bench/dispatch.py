"""Dispatch efficiency: N remote jobs of latency L at concurrency C, through ``shotmake build``.

A loopback ``FakeOpenAI`` (the test fake, speaking the Videos API) completes each Sora job
``L`` seconds after its create and hints ``openai-poll-after-ms`` between polls. The episode
has N Sora shots; every other node (conform, sequences, master, poster, .srt) is seeded in
the cache (``bench/seed.py``), so the build dispatches exactly the N clips, C at a time
(``[limits."sora-2"] concurrency = C`` and ``-j C``), through the real CLI, journal and
adapter. Target: wall time within 1.1 x ceil(N/C) x L. Reported too: shotmake's CPU time
per job (all of it: start-up, HTTP, journal, hashing and storing the download) and polls
per job, which show that waiting sleeps instead of spinning.

    .venv/bin/python bench/dispatch.py [--jobs 200] [--latency 6] [--concurrency 50] [--poll-ms 200]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live under tests/
sys.path.insert(0, str(ROOT / "bench"))

import seed as seeding
from tests.fakes.openai_server import FakeOpenAI, fake_mp4
from timing import run_timed

KEY = "sk-bench-0123456789abcdefghijklmnopqrstuvwxyz"


def episode(jobs: int) -> str:
    lines = ["version: 1", "episode: dispatch", "defaults:", "  provider: sora-2", "  duration: 4",
             "  resolution: 720p", '  aspect: "16:9"', "shots:"]
    lines += [f"  - id: s{i:04d}\n    prompt: \"Benchmark shot {i}, a lighthouse beam sweeps the fog.\"" for i in range(jobs)]
    lines += ["sequences:"]
    per = 20
    for q in range(0, jobs, per):
        lines += [f"  - id: q{q // per:03d}", f"    shots: [{', '.join(f's{i:04d}' for i in range(q, min(jobs, q + per)))}]"]
    return "\n".join(lines) + "\n"


def measure(jobs: int, latency: float, concurrency: int, poll_ms: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shotmake-dispatch-") as tmp, \
            FakeOpenAI(api_key=KEY, seconds_to_complete=latency, poll_after_ms=poll_ms) as fake:
        folder = Path(tmp)
        fake_mp4(4, "1280x720")  # the fake renders its one clip with ffmpeg on first use: not shotmake's time
        # The fake still serves Sora, as a gateway might; the project declares it live (its route retired).
        (folder / "shotmake.toml").write_text(f'[limits."sora-2"]\nconcurrency = {concurrency}\n'
                                              '[routes."sora-2"]\nstatus = "live"\n')
        (folder / "dispatch.yaml").write_text(episode(jobs))
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            seeding.seed(Path("dispatch.yaml"), Path(".shotmake"), skip=lambda node: node.kind == "clip")
        finally:
            os.chdir(cwd)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GEMINI_", "GOOGLE_", "SHOTMAKE_"))}
        env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake.base_url)
        started = time.perf_counter()
        sample = run_timed([sys.executable, "-m", "shotmake", "build", "-q", "-j", str(concurrency), "dispatch.yaml"],
                           folder, env)
        if sample.code != 0:
            raise RuntimeError(sample.stderr[-3000:])
        wall = time.perf_counter() - started
        creates = fake.count("POST", "/v1/videos")
        contents = sum(1 for r in fake.requests if r.method == "GET" and r.path.endswith("/content"))
        polls = sum(1 for r in fake.requests if r.method == "GET" and r.path.startswith("/v1/videos/")
                    and not r.path.endswith("/content"))
    ideal = math.ceil(jobs / concurrency) * latency
    return {"jobs": jobs, "latency": latency, "concurrency": concurrency, "poll_ms": poll_ms, "wall": wall,
            "ideal": ideal, "ratio": wall / ideal, "cpu": sample.cpu, "cpu_per_job_ms": sample.cpu / jobs * 1000,
            "creates": creates, "downloads": contents, "polls_per_job": polls / max(1, creates),
            "rss_mb": sample.rss_mb}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--poll-ms", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(measure(args.jobs, args.latency, args.concurrency, args.poll_ms), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
