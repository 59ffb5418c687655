"""The remote cache's hit path: objects/s and MB/s from a loopback S3 server, against local hits in the same run.

moto's S3 server (the test suite's, ``tests/fakes/s3_server.py``) runs in a child process, so its
Python does not share this process's GIL. A seed cache publishes two sets of renders to it
(``RemoteCache.publish``): many small ones (objects/s: request overhead) and a few large ones
(MB/s: streaming, hashing, the fsync'd store). Each set is then fetched into an empty cache
(``RemoteCache.fetch``: entry GET, object GET streamed through SHA-256 into a temp file, size and
digest check, ``Cache.store``), with ``TRANSFERS`` at once as ``shotmake pull`` does, and
once one at a time as a single build worker does. Baselines, same objects, same run:

* local hit: ``Cache.lookup`` + ``Cache.verify`` (stat, then read and hash the object: what a
  build does before it uses a cached render) in a fresh ``Cache`` instance;
* ``file://`` remote: the same fetch from a folder (a NAS mount, here a local disk).

Results replace the remote_cache section of docs/benchmarks.md.

    .venv/bin/python bench/remote_cache.py [--quick] [--no-doc] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import benchdoc
from tests.fakes.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY

from shotmake.cache import Cache
from shotmake.remote import RemoteCache, Timeouts, open_store

BEGIN, END = "<!-- bench:remote_cache -->", "<!-- /bench:remote_cache -->"
TRANSFERS = 8
MB = 1_000_000

SERVER = """
import sys, time, logging
sys.path.insert(0, {root!r})
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
import httpx
server = ThreadedMotoServer(ip_address="127.0.0.1", port={port}, verbose=False)
server.start()
httpx.put("http://127.0.0.1:{port}/bench").raise_for_status()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(cache: Cache, count: int, size: int, tag: str) -> list[str]:
    """``count`` distinct renders of ``size`` bytes in ``cache``; returns their keys."""
    keys = []
    block = os.urandom(min(size, 1 << 20))
    for n in range(count):
        key = f"{tag}{n:08d}".encode().hex().ljust(64, "0")[:64]
        source = cache.temp_path(".mp4")
        with open(source, "wb") as out:
            head = f"{tag}-{n}".encode()
            out.write(head)
            left = size - len(head)
            while left > 0:
                out.write(block[:left])
                left -= len(block)
        cache.store(key, source, {"node": f"clip:{tag}{n}"})
        keys.append(key)
    return keys


def fetch_all(remote: RemoteCache, keys: list[str], dest: Path, workers: int) -> float:
    cache = Cache(dest)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        got = list(pool.map(lambda key: remote.fetch(key, cache), keys))
    elapsed = time.perf_counter() - started
    cache.close()
    assert all(a is not None for a in got), f"{got.count(None)} fetches failed ({remote.down})"
    shutil.rmtree(dest)
    return elapsed


def local_hits(root: Path, keys: list[str]) -> float:
    cache = Cache(root)  # a fresh instance: nothing verified yet in this process
    started = time.perf_counter()
    for key in keys:
        found = cache.lookup(key)
        assert found is not None and cache.verify(found)
    elapsed = time.perf_counter() - started
    cache.close()
    return elapsed


def best(runs: int, measure: Any, *args: Any) -> float:
    return min(measure(*args) for _ in range(runs))


def measure(quick: bool) -> dict[str, Any]:
    sets = {"small": (60, 64 << 10), "large": (4, 8 << 20)} if quick else {"small": (400, 256 << 10),
                                                                              "large": (12, 32 << 20)}
    runs = 2 if quick else 3
    port = free_port()
    child = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), port=port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    results: dict[str, Any] = {"transfers": TRANSFERS, "runs": runs, "sets": {}}
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        timeouts = Timeouts(connect=5, read=30, retries=2)
        with tempfile.TemporaryDirectory(prefix="shotmake-bench-remote-") as tmp:
            base = Path(tmp)
            share = base / "share"
            s3 = RemoteCache(open_store("s3://bench/cache", timeouts, env), "s3://bench/cache")
            nas = RemoteCache(open_store(f"file://{share}", timeouts, env), f"file://{share}")
            seeded = Cache(base / "seed")
            for name, (count, size) in sets.items():
                keys = seed(seeded, count, size, name[0])
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=TRANSFERS) as pool:
                    assert all(pool.map(lambda key: s3.publish(key, seeded.lookup(key)), keys))  # type: ignore[arg-type]
                upload = time.perf_counter() - started
                for key in keys:
                    nas.publish(key, seeded.lookup(key))  # type: ignore[arg-type]
                total = count * size
                row = {"count": count, "size": size, "upload": upload,
                       "s3_parallel": best(runs, fetch_all, s3, keys, base / "dest", TRANSFERS),
                       "s3_serial": best(runs, fetch_all, s3, keys, base / "dest", 1),
                       "file_parallel": best(runs, fetch_all, nas, keys, base / "dest", TRANSFERS),
                       "local": best(runs, local_hits, base / "seed", keys)}
                for case in ("s3_parallel", "s3_serial", "file_parallel", "local", "upload"):
                    row[f"{case}_objects_s"] = count / row[case]
                    row[f"{case}_mb_s"] = total / MB / row[case]
                results["sets"][name] = row
            seeded.close()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)
    return results


def render(results: dict[str, Any]) -> str:
    lines = [
        "## Remote cache hit path (S3 on loopback)",
        "",
        f"`bench/remote_cache.py`, {datetime.date.today().isoformat()}, {os.cpu_count()} CPUs: moto's S3 server in a "
        f"child process on 127.0.0.1; best of {results['runs']} runs. A remote hit is an entry GET, the object "
        "streamed through SHA-256 into a temp file, the size and digest check and the local store (fsync + "
        "rename); the local-hit baseline is `Cache.lookup` + `Cache.verify` (stat, read and hash) of the same "
        "objects in the same run.",
        "",
        "| objects | path | objects/s | MB/s | vs local hit |",
        "|---|---|---|---|---|",
    ]
    for name, row in results["sets"].items():
        what = f"{row['count']} x {row['size'] / MB:.2f} MB ({name})"
        for case, label in (("s3_parallel", f"S3 fetch, {results['transfers']} at once (`pull`)"),
                            ("s3_serial", "S3 fetch, one at a time (one build worker)"),
                            ("file_parallel", f"`file://` fetch, {results['transfers']} at once"),
                            ("local", "local hit (lookup + digest check)"),
                            ("upload", f"S3 publish, {results['transfers']} at once")):
            ratio = row[case] / row["local"]
            lines.append(f"| {what} | {label} | {row[f'{case}_objects_s']:,.0f} | {row[f'{case}_mb_s']:,.0f} | "
                         f"{ratio:.1f}x the time |")
    lines += ["", "moto is a Python server: against S3 itself, or MinIO, the request overhead is the network's "
              "round trip instead, and large objects are bounded by the link. The local-hit column is what a "
              "build pays for a render already on its disk; the ratio is what the remote adds per render. "
              "The `file://` row is the floor of any fetch on this machine: each render is written, fsync'd, "
              "renamed and indexed (a SQLite commit with `synchronous=FULL`) as a local render is, which "
              "bounds small objects to about a hundred a second here; a build's own workers (`-j`) fetch "
              "in parallel like `pull` does."]
    return "\n".join(lines)


def write_section(text: str) -> None:
    benchdoc.write_section(BEGIN, END, f"{BEGIN}\n{text}\n{END}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets: check the script runs")
    parser.add_argument("--no-doc", action="store_true", help="print only; do not touch docs/benchmarks.md")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = parser.parse_args()
    results = measure(args.quick)
    text = render(results)
    print(text)
    if args.json:
        print(json.dumps(results))
    if not args.no_doc and not args.quick:
        write_section(text)


if __name__ == "__main__":
    main()
