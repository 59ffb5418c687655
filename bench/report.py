"""The HTML report of a 1,000-shot episode: how long ``shotmake report`` takes, and thumbnails' cost.

* Warm report: a synthetic episode (``bench/synth.py``) whose cache is seeded (``bench/seed.py``)
  with every node's object and, for each clip, a cached thumbnail strip (what a first report
  leaves), then ``shotmake report`` is timed as a whole process, alternating with ``shotmake
  plan`` of the same episode (the baseline: loading, linting and planning the spec, which the
  report does too). The first report (which copies every object into the report folder)
  is timed separately. The page's size and its lazy images are reported.
* Cold thumbnails: ``thumbnails.thumbnail`` on real local clips (480p, 1 s), the one-off cost
  of each new take's strip (later reports find it in the cache).

    .venv/bin/python bench/report.py [--shots 1000] [--repeat 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

import benchdoc
import synth
from seed import seed
from timing import interleaved, run_timed

from shotmake.cache import Cache, file_digest
from shotmake.plan import build_plan
from shotmake.spec import load_episode
from shotmake.thumbnails import thumbnail, thumbnail_key

SHOTMAKE = [sys.executable, "-m", "shotmake"]
BEGIN, END = "<!-- bench:report -->", "<!-- /bench:report -->"


def seed_thumbnails(spec: Path, cache_dir: Path) -> int:
    """Give every clip's seeded object a cached strip, as a first report would."""
    plan = build_plan(load_episode(spec), file_digest)
    cache = Cache(cache_dir)
    count = 0
    try:
        with cache.index.transaction():
            for nid in plan.order:
                node = plan.node(nid)
                art = cache.lookup(node.key) if node.kind in ("clip", "sheet") else None
                if art is None:
                    continue
                temp = cache.temp_path(".jpg")
                temp.write_bytes(f"thumb:{art.digest}\n".encode())
                cache.store(thumbnail_key(art.digest, node.kind == "sheet"), temp, {"kind": "thumbnail"})
                count += 1
    finally:
        cache.close()
    return count


def warm(folder: Path, shots: int, times: int) -> dict[str, Any]:
    folder.mkdir(parents=True)
    (folder / "shotmake.toml").write_text("")
    spec = synth.write(folder, shots)
    cwd = os.getcwd()
    os.chdir(folder)  # seed as the CLI sees paths
    try:
        nodes = seed(Path(spec.name), Path(".shotmake"))
        thumbs = seed_thumbnails(Path(spec.name), Path(".shotmake"))
    finally:
        os.chdir(cwd)
    first = run_timed([*SHOTMAKE, "report", spec.name], folder)
    if first.code != 0:
        raise RuntimeError(first.stderr)
    runs = interleaved({"report": ([*SHOTMAKE, "report", spec.name], folder),
                        "plan": ([*SHOTMAKE, "plan", spec.name], folder)}, times)
    page = folder / "build" / f"ep{shots}-report" / "index.html"
    text = page.read_text()
    loaded = browser_load(page)
    return {"browser": loaded, "shots": shots, "nodes": nodes, "thumbs": thumbs, "first": first.wall,
            "best": runs["report"].best, "median": runs["report"].median, "cpu": runs["report"].cpu,
            "rss_mb": runs["report"].rss_mb, "plan_best": runs["plan"].best,
            "page_mb": len(text.encode()) / 1e6, "lazy": text.count('loading="lazy"'),
            "eager": len(re.findall(r"<img(?![^>]*loading=\"lazy\")", text))}


def browser_load(page: Path) -> dict[str, Any] | None:
    """Open the page in headless Chromium (when installed): load time and requests made at load (lazy images)."""
    if not Path("/usr/bin/chromium").exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path="/usr/bin/chromium", headless=True, viewport={"width": 1280, "height": 900},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        try:
            tab = context.new_page()
            requests: list[str] = []
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page.as_uri(), wait_until="load")
            load = tab.evaluate("() => performance.getEntriesByType('navigation')[0].duration") / 1000
        finally:
            context.close()
    return {"load_s": load, "requests": len(requests)}


def cold(folder: Path, clips: int) -> dict[str, Any]:
    """Render ``clips`` real local clips, then time each one's strip extraction."""
    from shotmake.providers.base import RenderRequest
    from shotmake.providers.local import LocalProvider

    cache = Cache(folder / "cold")
    provider = LocalProvider()
    seconds = []
    try:
        for i in range(clips):
            temp = cache.temp_path(".mp4")
            provider.render(RenderRequest(node_id=f"clip:s{i}", key=f"bench{i}", kind="clip", model="",
                                          prompt=f"shot {i}", negative_prompt="", duration=1.0, width=854,
                                          height=480, fps=24, aspect="16:9", resolution="480p"), temp)
            art = cache.store(f"bench-clip-{i}", temp, {"kind": "clip"})
            start = time.perf_counter()
            made = thumbnail(cache, art)
            seconds.append(time.perf_counter() - start)
            assert made.extracted and made.artifact is not None, made.problem
            again = thumbnail(cache, art)
            assert not again.extracted  # the second report extracts nothing
    finally:
        cache.close()
    seconds.sort()
    return {"clips": clips, "median_ms": seconds[len(seconds) // 2] * 1000, "best_ms": seconds[0] * 1000}


def measure(shots: int = 1000, times: int = 5, clips: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shotmake-bench-report-") as tmp:
        result = warm(Path(tmp) / "warm", shots, times)
        (Path(tmp) / "coldp").mkdir()
        result["cold"] = cold(Path(tmp) / "coldp", clips)
    return result


def render(r: dict[str, Any]) -> str:
    c = r["cold"]
    return "\n".join([
        BEGIN,
        "## Report (`shotmake report`, issue 17)",
        "",
        f"`bench/report.py`, {time.strftime('%Y-%m-%d')}: a {r['shots']:,}-shot synthetic episode ({r['nodes']:,} "
        f"nodes, {r['thumbs']:,} cached thumbnails), whole process, best of alternated runs.",
        "",
        "| step | best | median | baseline (same run) | ratio |",
        "|---|---|---|---|---|",
        f"| `shotmake report`, thumbnails cached | {r['best']:.2f} s | {r['median']:.2f} s | "
        f"`shotmake plan` {r['plan_best']:.2f} s | {r['best'] / r['plan_best']:.1f}x |",
        f"| first `shotmake report` (copies each clip, sheet and strip into the folder) | {r['first']:.2f} s "
        "| | | |",
        f"| strip of one new 1 s 480p clip (ffmpeg probe + 3-frame extract, once per take) | "
        f"{c['best_ms']:.0f} ms | {c['median_ms']:.0f} ms | | |",
        "",
        f"The page is {r['page_mb']:.1f} MB of HTML with {r['lazy']:,} lazy images and {r['eager']} eager ones; "
        "videos load only on Play, so the browser fetches what is scrolled into view. Peak RSS of the report "
        f"process: {r['rss_mb']:.0f} MB; CPU {r['cpu']:.2f} s."
        + (f" Headless Chromium loads the page in {r['browser']['load_s']:.2f} s, fetching "
           f"{r['browser']['requests']} files at load (the rest as they scroll into view)." if r["browser"] else ""),
        END,
    ])


def write_section(text: str) -> None:
    benchdoc.write_section(BEGIN, END, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="rewrite the section of docs/benchmarks.md")
    args = parser.parse_args()
    result = measure(args.shots, args.repeat)
    print(json.dumps(result))
    if args.write:
        write_section(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
