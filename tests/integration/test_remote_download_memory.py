"""Downloads stream in constant memory: a regression guard for ``bench/download_memory.py``.

The bench measures 50 vs 500 MB (docs/benchmarks.md); this runs it small (8 vs 64 MB) in
the default suite: each case is a fresh process reporting its own peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "download_memory.py"


def test_peak_memory_of_a_download_does_not_grow_with_the_body() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--sizes", "8,64", "--json", "--no-doc"],
                          capture_output=True, text=True, timeout=120, check=True)
    peak = {(r["case"], r["size"] // 1_000_000): r["peak_rss_mb"] for r in json.loads(proc.stdout)}
    for case in ("stream_to_file", "OpenAIVideos.download", "GeminiVeo.download"):
        growth = peak[(case, 64)] - peak[(case, 8)]
        assert growth < 8, f"{case}: peak RSS grew {growth:.1f} MB from an 8 MB to a 64 MB body"
        assert peak[(case, 64)] - peak[("idle", 0)] < 24, f"{case}: far above the idle process"
    # The measurement can tell: holding the body whole shows up.
    assert peak[("httpx get (buffered)", 64)] - peak[("httpx get (buffered)", 8)] > 40
