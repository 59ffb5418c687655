"""Wan over DashScope end to end, through the CLI a user runs, against the loopback DashScope fake.

* the pilot with its character-free shots on ``wan-2.7`` and its character shots on
  ``gemini-omni`` (sheets drawn by ``gemini-3-pro-image``, sent to Omni as references) builds: one
  create per clip on each route, and a rebuild sends nothing;
* character sheets go to Wan as r2v references, uploaded to the temporary store once and
  reused across shots and across builds (the upload record lives in the cache directory);
* seeded chaos on the DashScope fake plus SIGKILLs at seeded points (6 kills over 8 shots; in the
  slow phase 20 kills over 20 shots, as for the other remote routes): every Wan clip is still
  created exactly once (a create whose answer was lost is found in the task list), and nothing
  partial is cached.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from shotmake.cache import Cache
from tests.fakes.dashscope_server import CREATE, FakeDashScope, Fault, throttled
from tests.fakes.gemini_interactions_server import FakeInteractions
from tests.fakes.harness import (
    GEMINI_KEY,
    Killer,
    RemoteFakes,
    character_episode,
    files_containing,
    node_prompts,
    partial_renders,
    pilot_project,
    summary,
)
from tests.fakes.server import FakeServer, Request, Response

DASHSCOPE_KEY = "sk-test-NEVER-WRITE-ME-dashscope-3c71a0"


class WanFakes(RemoteFakes):
    """The usual fakes plus DashScope (its API and its storage host, two origins)."""

    def __init__(self) -> None:
        super().__init__(gemini=FakeInteractions(api_key=GEMINI_KEY, polls_until_done=2))
        self.dashscope = FakeDashScope(api_key=DASHSCOPE_KEY, polls_to_finish=2)
        self.servers = (*self.servers, self.dashscope, self.dashscope.storage)

    @property
    def secrets(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*super().secrets, DASHSCOPE_KEY)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(DASHSCOPE_API_KEY=DASHSCOPE_KEY, DASHSCOPE_BASE_URL=self.dashscope.base_url, **extra)

    def video_jobs(self) -> Counter[str]:
        return super().video_jobs() + Counter(self.dashscope.jobs_by_prompt())

    def staged_create(self, server: FakeServer, request: Request) -> Callable[[], Response] | None:
        if server is self.dashscope and request.method == "POST" and request.path == CREATE:
            return lambda: self.dashscope._create(request)
        return super().staged_create(server, request)


def pilot_on_wan(root: Path) -> Path:
    """The pilot: character-free shots (cliffs, signal) on wan-2.7, the rest on gemini-omni with
    sheets from gemini-3-pro-image, and a small master."""
    def route(text: str) -> str:
        text = text.replace("  provider: local ", "  provider: gemini-omni\n  sheet_provider: gemini-3-pro-image ", 1)
        for sid in ("cliffs", "signal"):
            text = text.replace(f"  - id: {sid}\n", f"  - id: {sid}\n    provider: wan-2.7\n")
        return text

    return pilot_project(root, route)


def test_the_pilot_with_establishing_shots_on_wan_builds_once(tmp_path: Path) -> None:
    spec = pilot_on_wan(tmp_path)
    prompts = node_prompts(spec)
    wan_clips = {nid: p for nid, (provider, p) in prompts.items() if provider == "wan-2.7"}
    assert set(wan_clips) == {"clip:cliffs", "clip:signal"}
    with WanFakes() as fakes:
        build = fakes.run(["build", spec.name, "--json", "-j", "4"], tmp_path)
        result = summary(build)
        assert build.returncode == 0 and result["failed"] == [], build.stderr
        assert Counter(fakes.dashscope.jobs_by_prompt()) == {p: 1 for p in wan_clips.values()}
        omni = [r.json() for r in fakes.gemini.requests if r.method == "POST" and r.path.endswith("/interactions")]
        omni_clips = [nid for nid, (provider, _) in prompts.items() if provider == "gemini-omni"]
        assert len(omni) == len(omni_clips) == 5  # one create per character clip, none twice
        assert all(any(c.get("type") == "image" for step in b["input"] for c in step["content"]) for b in omni)
        bodies = [r.json() for r in fakes.dashscope.creates()]
        assert {b["model"] for b in bodies} == {"wan2.7-t2v"} and len(bodies) == 2
        assert all(b["parameters"]["prompt_extend"] is False and b["parameters"]["watermark"] is False
                   and b["parameters"]["duration"] == 4 for b in bodies)
        assert all(b["input"]["negative_prompt"] == "text, watermark, extra fingers, blurry faces" for b in bodies)
        assert (tmp_path / "build" / "pilot.mp4").stat().st_size > 0
        before = fakes.request_count()
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["rendered"] == []
        assert fakes.request_count() == before, "a rebuild must send nothing"
        outputs = [build.stdout, build.stderr, again.stdout, again.stderr]
        assert not [o for o in outputs for s in fakes.secrets if s in o]
        assert files_containing([tmp_path], fakes.secrets) == []


def sheets_episode(root: Path, shots: list[tuple[str, str, str]]) -> Path:
    """``shots``: (id, prompt, extra YAML lines) -> an episode on wan-2.7 with two sheeted characters."""
    lines = []
    for sid, prompt, extra in shots:
        lines.append(f"  - id: {sid}\n    prompt: \"{prompt}\"" + (f"\n    {extra}" if extra else ""))
    return character_episode(root, "sheets", "{provider: wan-2.7, resolution: 720p, duration: 5}", lines)


def test_sheets_are_uploaded_once_and_reused_across_shots_and_rebuilds(tmp_path: Path) -> None:
    shots = [("a", "{mei} climbs the stairs.", "characters: [mei]"),
             ("b", "{mei} polishes the lamp.", "characters: [mei]"),
             ("c", "{mei} and {kai} read a chart.", "characters: [mei, kai]"),
             ("d", "Fog rolls over the harbour.", "")]
    spec = sheets_episode(tmp_path, shots)
    with WanFakes() as fakes:
        first = fakes.run(["build", spec.name, "--json", "-j", "4"], tmp_path)
        assert first.returncode == 0 and summary(first)["failed"] == [], first.stderr
        ds = fakes.dashscope
        by_prompt = {b["input"]["prompt"]: b for b in (r.json() for r in ds.creates())}
        assert len(ds.creates()) == 4
        media = {p: [m["url"] for m in b["input"].get("media", [])] for p, b in by_prompt.items()}
        mei_a = next(v for p, v in media.items() if "climbs" in p)
        mei_b = next(v for p, v in media.items() if "polishes" in p)
        both = next(v for p, v in media.items() if "chart" in p)
        assert len(mei_a) == 1 and mei_a == mei_b and mei_a[0] in both and len(both) == 2
        assert {b["model"] for b in by_prompt.values()} == {"wan2.7-r2v", "wan2.7-t2v"}
        # two sheets, two uploads (same model), however many shots use them; never a key there
        assert len(ds.uploads()) == 2 and not any("authorization" in u.headers for u in ds.storage.requests)
        # what was uploaded is the sheet shotmake drew and cached, byte for byte
        keys = {e["id"]: e["key"] for e in summary(first)["rendered"]}
        cache = Cache(tmp_path / ".shotmake")
        try:
            sheet = Path(cache.lookup(keys["sheet:mei"]).path).read_bytes()  # type: ignore[union-attr]
        finally:
            cache.close()
        assert ds.storage.objects[mei_a[0][len("oss://"):]][0] == sheet
        uploads, policies = len(ds.uploads()), ds.count("GET", "/api/v1/uploads")

        # change one shot: its rebuild reuses the uploads recorded in the cache directory
        spec.write_text(spec.read_text().replace("polishes the lamp", "polishes the great lamp"))
        second = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert second.returncode == 0 and len(summary(second)["rendered"]) >= 1, second.stderr
        assert len(ds.creates()) == 5
        assert len(ds.uploads()) == uploads and ds.count("GET", "/api/v1/uploads") == policies
        assert ds.creates()[-1].json()["input"]["media"][0]["url"] == mei_a[0]
        assert files_containing([tmp_path], fakes.secrets) == []


def wan_shots(count: int) -> list[tuple[str, str, str]]:
    """``count`` shots in the mix of the pilot: sheeted characters (r2v), character-free (t2v), a continuity frame (i2v)."""
    shots = []
    for i in range(count):
        kind = i % 8
        if kind < 3:
            shots.append((f"s{i}", f"{{mei}} walks the cliff path (s{i}).", "characters: [mei]"))
        elif kind < 6:
            shots.append((f"s{i}", f"Waves on black rocks (s{i}).", ""))
        elif kind == 6:
            shots.append((f"s{i}", f"The lamp turns (s{i}).", f"after: s{i - 3}"))
        else:
            shots.append((f"s{i}", f"{{kai}} waves (s{i}).", "characters: [kai]"))
    return shots


def kill_and_restart(tmp_path: Path, seed: int, shots: int, kills: int) -> None:
    """Build ``shots`` Wan shots under chaos, SIGKILLing at seeded points ``kills`` times, until done."""
    rng = random.Random(seed)
    spec = sheets_episode(tmp_path, wan_shots(shots))
    prompts = {nid: p for nid, (provider, p) in node_prompts(spec).items() if nid.startswith("clip:")}
    with WanFakes() as fakes:
        ds = fakes.dashscope
        ds.faults += [throttled("create"), Fault("create", kind="lose_response"), Fault("get", status=500),
                      Fault("download", kind="reset", after=700), Fault("download", kind="truncate")]
        ds.chaos(seed=seed, rate=0.1)
        killer = Killer(fakes, settle=0.2)
        done, runs, extra, outputs = 0, 0, [], []
        while True:
            runs += 1
            assert runs < 30 + 2 * kills, f"no end in sight after {runs} runs ({done} kills)"
            proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", spec.name, "-k", "-j", "4", "--json",
                                     *extra], cwd=tmp_path, env=fakes.env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            armed = done < kills
            if armed:
                killer.arm(proc, rng.randint(1, 10), after=rng.uniform(1.0, 6.0),
                           mode=rng.choice(["before", "after"]))
            out, err = proc.communicate(timeout=300)
            killer.disarm()
            outputs += [out, err]
            if armed and killer.fired:
                done += 1
                continue
            failed = {e["id"]: e["error"] for e in summary(subprocess.CompletedProcess(proc.args, proc.returncode,
                                                                                       out, err))["failed"]
                      if not e["error"].startswith("skipped")}  # behind a failed input (after:, conform)
            uncertain = {nid for nid, e in failed.items() if "--resubmit-uncertain" in e}
            if uncertain:  # like a user who checked the console: those creates never reached the fake
                jobs = fakes.video_jobs()
                assert not any(jobs[prompts[nid]] for nid in uncertain), (killer.landed_on, failed)
                extra = ["--resubmit-uncertain"]
                continue
            extra = []
            if failed or done < kills:
                assert all(re.search(r"HTTP|network|gave up|retry|truncated|download", e) for e in failed.values()), \
                    failed
                continue
            break
        killer.detach()
        said = "\n".join(outputs)
        print(f"{runs} runs, {done} kills on: {', '.join(killer.landed_on)}; {said.count('resuming job')} resumes, "
              f"{said.count('reconciled with job')} reconciled creates, {len(ds.uploads())} uploads")
        assert done >= kills, killer.landed_on
        assert fakes.video_jobs() == {p: 1 for p in prompts.values()}, killer.landed_on
        assert (tmp_path / "build" / "sheets.mp4").exists()
    assert not [s for s in fakes.secrets if s in said]
    assert files_containing([tmp_path], fakes.secrets) == []
    assert partial_renders(tmp_path) == []


def test_sigkill_and_chaos_still_create_each_wan_clip_once(tmp_path: Path) -> None:
    kill_and_restart(tmp_path, seed=14, shots=8, kills=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 23])
def test_sigkill_20_times_across_20_wan_shots_still_creates_each_clip_once(tmp_path: Path, seed: int) -> None:
    kill_and_restart(tmp_path, seed=seed, shots=20, kills=20)
