"""Write a synthetic episode of N shots for benchmarks: a series bible plus an episode file.

The shape follows real specs: a few characters with sheets (in an included series file),
shots that name characters with ``{placeholders}``, some ``after:`` continuity edges, a few
subtitles, and the shots split into sequences (10 for 100 shots, up to 500 for 10,000).
Every shot uses the local provider at 480p, 1 s and 2 fps, so populating the cache by a real
build stays cheap.

    .venv/bin/python bench/synth.py DIR --shots 1000     # writes DIR/ep1000.yaml + DIR/series/bible.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHARACTERS = {
    "mei": ("Mei", "a 16-year-old girl with a short black bob, round silver glasses and a yellow raincoat"),
    "kai": ("Kai", "a tall 17-year-old boy with messy auburn hair, a green knitted scarf and a battered radio"),
    "ana": ("Ana", "a grey-haired harbour master in an oilskin coat with a brass whistle"),
    "tom": ("Tom", "a small black-and-white ship's cat with one torn ear"),
}
PLACES = ["the lighthouse gallery", "the harbour shack", "the wet cobbled quay", "the spiral stairs",
          "a fishing boat in the fog", "the radio room", "the cliff path at dusk", "the lamp room"]
ACTIONS = ["looks out to sea", "tunes the radio", "climbs slowly", "runs through the rain", "lights a lantern",
           "reads a sea chart", "listens to the morse signal", "waves a flag"]


def sequence_count(shots: int) -> int:
    """10 sequences for 100 shots, 50 for 1,000, 500 for 10,000 (10-20 shots each)."""
    return max(1, min(500, shots // 20 if shots >= 1000 else shots // 10))


def bible() -> str:
    lines = ["# synthetic series bible (bench/synth.py)", "style:",
             "  look: hand-drawn anime, soft cel shading, film grain, 35mm lens",
             "  palette: teal sea, amber lamplight, dusk purple sky",
             "  negative: text, watermark, extra fingers", "defaults:", "  provider: local",
             "  resolution: 480p", '  aspect: "16:9"', "  fps: 2", "  duration: 1",
             "characters:"]
    for cid, (name, description) in CHARACTERS.items():
        lines += [f"  {cid}:", f"    name: {name}", f"    description: {description}", "    sheet: true"]
    return "\n".join(lines) + "\n"


def episode(shots: int, name: str) -> str:
    """The episode text: ``shots`` shots over ``sequence_count(shots)`` sequences."""
    cids = list(CHARACTERS)
    lines = ["# synthetic episode (bench/synth.py)", "version: 1", f"episode: {name}",
             f'title: "Synthetic episode, {shots} shots"', "include:", "  - series/bible.yaml", "shots:"]
    for i in range(shots):
        who = [cids[i % len(cids)]] if i % 3 else [cids[i % len(cids)], cids[(i + 1) % len(cids)]]
        if i % 5 == 4:
            who = []
        subject = " and ".join(f"{{{c}}}" for c in who) or "The empty scene"
        prompt = f"{subject} {ACTIONS[i % len(ACTIONS)]} in {PLACES[(i // 3) % len(PLACES)]}, shot {i}."
        lines += [f"  - id: s{i:05d}", f'    prompt: "{prompt}"']
        if who:
            lines.append(f"    characters: [{', '.join(who)}]")
        if i % 10 == 7:  # continuity from the previous shot
            lines.append(f"    after: s{i - 1:05d}")
        if i % 25 == 3:
            lines.append(f'    subtitle: "Line {i}: the signal again."')
        if i % 40 == 11:
            lines.append(f"    title: Beat {i}")
    count = sequence_count(shots)
    lines.append("sequences:")
    per = -(-shots // count)
    for q in range(count):
        members = [f"s{i:05d}" for i in range(q * per, min(shots, (q + 1) * per))]
        if not members:
            continue
        lines += [f"  - id: q{q:03d}", f"    title: Sequence {q}", f"    shots: [{', '.join(members)}]"]
    return "\n".join(lines) + "\n"


def write(folder: Path, shots: int) -> Path:
    """Write the bible and an episode of ``shots`` shots under ``folder``; return the episode path."""
    (folder / "series").mkdir(parents=True, exist_ok=True)
    (folder / "series" / "bible.yaml").write_text(bible(), encoding="utf-8")
    path = folder / f"ep{shots}.yaml"
    path.write_text(episode(shots, f"ep{shots}"), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--shots", type=int, default=1000)
    args = parser.parse_args()
    print(write(args.folder, args.shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
