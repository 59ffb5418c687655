"""Peak memory while downloading a large clip: the adapters stream, so it must not grow with size.

A loopback server (the test fakes' ``FakeServer`` with a streamed body: the bytes are produced
chunk by chunk, never held whole) serves N MB bodies that start like an MP4. Each measurement
runs in a fresh child process that reports its own peak RSS (``ru_maxrss``) and wall time:

* ``idle``: the same imports and an open ``httpx.Client``, nothing downloaded (the floor);
* ``stream_to_file``: ``shotmake.providers.http.stream_to_file`` (what every adapter uses);
* ``OpenAIVideos.download`` / ``GeminiVeo.download``: the full adapter path (Sora's
  ``/content``; Veo's file URI answered with a 302 to the bytes, as Google does);
* ``httpx stream``: a plain ``client.stream`` + ``iter_bytes`` loop, the reference;
* ``httpx get (buffered)``: ``client.get(url).content``, to show the measurement can tell.

Target: the streamed cases' peak RSS at 500 MB equals that at 50 MB (within a few MB) and
stays close to ``idle``. Results replace the download_memory section of docs/benchmarks.md.

    .venv/bin/python bench/download_memory.py [--sizes 50,500] [--buffered-max 100] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live under tests/

import benchdoc

DOC = benchdoc.DOC
BEGIN, END = "<!-- bench:download_memory -->", "<!-- /bench:download_memory -->"
MB = 1_000_000
CHUNK = 1 << 20
KEY = "bench-key"

CASES = ("idle", "stream_to_file", "OpenAIVideos.download", "GeminiVeo.download", "httpx stream",
         "httpx get (buffered)")


# -- the server (parent process) -------------------------------------------------------------------
def mp4_chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes that begin with an MP4 ``ftyp`` box, made from one reused 1 MiB chunk."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    block = bytes(CHUNK)
    first = head + block[len(head):]
    sent = 0
    while sent < size:
        piece = (first if sent == 0 else block)[: size - sent]
        sent += len(piece)
        yield piece


def start_server() -> Any:
    from tests.fakes.server import FakeServer, Request, Response

    class BigFiles(FakeServer):
        """``/bytes/N`` streams N bytes; ``/v1/videos/video_N/content`` (Sora) and
        ``/v1beta/files/N:download`` (Gemini, a 302 to ``/bytes/N``) serve the same."""

        def handle(self, request: Request) -> Response:
            parts = request.path.strip("/").split("/")
            if parts[0] == "bytes":
                size = int(parts[1])
                return Response(body=mp4_chunks(size), declared_length=size, headers={"content-type": "video/mp4"})
            if parts[:2] == ["v1", "videos"] and parts[-1] == "content":
                size = int(parts[2].removeprefix("video_"))
                return Response(body=mp4_chunks(size), declared_length=size, headers={"content-type": "video/mp4"})
            if parts[:2] == ["v1beta", "files"]:
                size = int(parts[2].split(":")[0])
                return Response(status=302, headers={"location": f"{self.url}/bytes/{size}"})
            return Response.json({"error": {"message": "not found"}}, status=404)

    return BigFiles().start()


# -- one measurement (child process) ---------------------------------------------------------------
def child(case: str, base: str, size: int, dest: Path) -> dict[str, Any]:
    import httpx

    from shotmake.providers.base import JobStatus
    from shotmake.providers.gemini_veo import GeminiVeo
    from shotmake.providers.http import stream_to_file
    from shotmake.providers.openai_videos import OpenAIVideos

    client = httpx.Client(timeout=60)
    started = time.perf_counter()
    written = 0
    if case == "stream_to_file":
        written = stream_to_file(client, f"{base}/bytes/{size}", dest)
    elif case == "OpenAIVideos.download":
        sora = OpenAIVideos("sora-2", api_key=KEY, base_url=f"{base}/v1", client=client)
        written = sora.download(f"video_{size}", dest, JobStatus(state="succeeded"))["bytes"]
    elif case == "GeminiVeo.download":
        veo = GeminiVeo(KEY, base_url=base, client=client)
        job = "models/veo-3.1-generate-preview/operations/bench"
        status = JobStatus(state="succeeded", meta={"uri": f"{base}/v1beta/files/{size}:download?alt=media"})
        written = veo.download(job, dest, status)["bytes"]
    elif case == "httpx stream":
        with client.stream("GET", f"{base}/bytes/{size}") as response, open(dest, "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                written += len(chunk)
    elif case == "httpx get (buffered)":
        body = client.get(f"{base}/bytes/{size}").content
        dest.write_bytes(body)
        written = len(body)
    elif case != "idle":
        raise SystemExit(f"unknown case {case!r}")
    seconds = time.perf_counter() - started
    client.close()
    if case != "idle" and written != size:
        raise SystemExit(f"{case}: wrote {written} of {size} bytes")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {"case": case, "size": size, "peak_rss_mb": peak_kb / 1024, "seconds": seconds}


def measure(case: str, base: str, size: int, tmp: Path) -> dict[str, Any]:
    dest = tmp / "download.mp4"
    proc = subprocess.run([sys.executable, __file__, "--child", case, base, str(size), str(dest)],
                          capture_output=True, text=True, check=False)
    dest.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"{case} at {size // MB} MB failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# -- report ------------------------------------------------------------------------------------------
def render(results: list[dict[str, Any]], sizes: list[int]) -> str:
    by = {(r["case"], r["size"]): r for r in results}
    idle = by[("idle", 0)]["peak_rss_mb"]
    small, large = min(sizes), max(sizes)
    head = "| case | " + " | ".join(f"peak RSS @ {s // MB} MB" for s in sizes) + f" | growth {small // MB}->{large // MB} MB | MB/s @ {large // MB} MB |"
    lines = [head, "|---" * (len(sizes) + 3) + "|", f"| idle (imports + client, no download) | {idle:.1f} MB" + " |" * (len(sizes) + 2)]
    verdicts = []
    for case in CASES[1:]:
        cells = [f"{by[(case, s)]['peak_rss_mb']:.1f} MB" if (case, s) in by else "not run" for s in sizes]
        if (case, small) in by and (case, large) in by:
            growth = by[(case, large)]["peak_rss_mb"] - by[(case, small)]["peak_rss_mb"]
            rate = large / MB / by[(case, large)]["seconds"]
            cells += [f"{growth:+.1f} MB", f"{rate:.0f}"]
            if not case.startswith("httpx get"):
                verdicts.append((case, growth, by[(case, large)]["peak_rss_mb"] - idle))
        else:
            cells += ["-", "-"]
        lines.append(f"| `{case}` | " + " | ".join(cells) + " |")
    worst = max(abs(g) for _, g, _ in verdicts)
    over_idle = max(o for _, _, o in verdicts)
    flat = worst <= 8.0
    summary = (f"**Streamed downloads: peak RSS {'flat' if flat else 'NOT flat'}** — at most {worst:.1f} MB "
               f"difference between {small // MB} MB and {large // MB} MB bodies, and at most {over_idle:.1f} MB "
               "above the idle process (target: independent of size).")
    today = datetime.date.today().isoformat()
    return "\n".join([
        "## Download memory (streamed clip downloads)",
        "",
        (f"`bench/download_memory.py`, {today}: a loopback server streams each body (never held whole); "
         "each row is a fresh child process reporting its own peak RSS (`ru_maxrss`). 1 MiB chunks, "
         "fsync before the atomic rename."),
        "",
        *lines,
        "",
        summary,
        "The buffered `httpx get` row is the contrast: reading the body whole costs its size in memory.",
    ])


def write_section(text: str) -> None:
    benchdoc.write_section(BEGIN, END, f"{BEGIN}\n{text}\n{END}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        case, base, size, dest = sys.argv[2:6]
        print(json.dumps(child(case, base, int(size), Path(dest))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500", help="body sizes in MB, comma-separated")
    parser.add_argument("--buffered-max", type=int, default=100,
                        help="largest size (MB) for the buffered contrast case")
    parser.add_argument("--no-doc", action="store_true", help="print only; do not touch docs/benchmarks.md")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args()
    sizes = sorted(int(s) * MB for s in args.sizes.split(","))
    server = start_server()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="shotmake-bench-") as tmp:
            results.append(measure("idle", server.url, 0, Path(tmp)))
            for size in sizes:
                for case in CASES[1:]:
                    if case.startswith("httpx get") and size > args.buffered_max * MB:
                        continue
                    results.append(measure(case, server.url, size, Path(tmp)))
                    r = results[-1]
                    if not args.json:
                        print(f"{case:<24} {size // MB:>5} MB  peak RSS {r['peak_rss_mb']:7.1f} MB  "
                              f"{r['seconds']:6.2f} s", flush=True)
    finally:
        server.stop()
    if args.json:
        print(json.dumps(results))
        return
    text = render(results, sizes)
    print()
    print(text)
    if not args.no_doc:
        write_section(text)
        print(f"\nwrote the download_memory section of {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
