"""Seedance over Ark, end to end through the CLI, against the loopback FakeArk.

1. The storm episode (series bible, character sheets, continuity frames) re-routed to
   ``seedance-2.0`` builds: every shot with characters sends its sheets as reference images
   (and a continuity frame travels as one more reference, lint SM140); one create per clip;
   a rebuild sends nothing; ``shotmake cost`` sums the tokens each task reported.
2. Chaos and SIGKILL: seeded transient faults (429, 5xx, resets, truncated downloads, lost
   create answers) and kills at seeded points, restarted until done: exactly one task per
   rendered clip, the planted refusals fail with the vendor's reason, no key at rest, nothing
   partial cached.

Builds run in subprocesses; the fakes run here and outlive every kill.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from shotmake.cache import Cache
from shotmake.providers.ark_tasks import TOKENS_PER_SECOND, seed_for
from shotmake.providers.catalog import ROUTES
from tests.fakes.ark_server import FakeArk, decoded_images, rate_limited, sent_content, server_error
from tests.fakes.harness import (
    Killer,
    RemoteFakes,
    character_episode,
    files_containing,
    partial_renders,
    summary,
    write_fast_config,
)
from tests.fakes.server import FakeServer, Request, Response

REPO = Path(__file__).resolve().parents[2]
ARK_KEY = "ark-test-NEVER-WRITE-ME-seedance-3c9e1d"


class ArkFakes(RemoteFakes):
    """The usual fakes plus FakeArk (and its storage host), with ARK_* pointing at them."""

    def __init__(self) -> None:
        super().__init__()
        self.ark = FakeArk(api_key=ARK_KEY, queued_polls=1, polls_to_complete=2)
        self.servers = (*self.servers, self.ark, self.ark.storage)

    def __enter__(self) -> ArkFakes:
        for server in self.servers:
            if server is not self.ark.storage:  # FakeArk starts its storage host itself
                server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            if server is not self.ark.storage:
                server.stop()

    @property
    def secrets(self) -> tuple[str, ...]:  # type: ignore[override]
        return (*super().secrets, ARK_KEY)

    def env(self, **extra: str) -> dict[str, str]:
        return super().env(ARK_API_KEY=ARK_KEY, ARK_BASE_URL=self.ark.base_url, **extra)

    def staged_create(self, server: FakeServer, request: Request) -> Callable[[], Response] | None:
        ark = self.ark
        if server is ark and request.method == "POST" and request.path == f"{ark.prefix}/contents/generations/tasks":
            return lambda: ark._create(request)
        return super().staged_create(server, request)

    def tasks(self) -> Counter[tuple[str, int]]:
        """Tasks that exist (and bill), per (prompt, seed): takes of a shot share a prompt, not a seed."""
        with self.ark.lock:
            return Counter((t.prompt, t.obj["seed"]) for t in self.ark.tasks.values())


def storm_on_seedance(root: Path) -> Path:
    """Copy episodes/ into ``root`` with the series bible's default provider set to seedance-2.0."""
    shutil.copytree(REPO / "episodes", root / "episodes")
    bible = root / "episodes" / "series" / "lighthouse-bible.yaml"
    text = bible.read_text()
    assert "  provider: local\n" in text
    bible.write_text(text.replace("  provider: local\n", "  provider: seedance-2.0\n"))
    write_fast_config(root)
    return root / "episodes" / "storm.yaml"


def test_storm_rerouted_to_seedance_sends_sheets_as_references_and_builds_once(tmp_path: Path) -> None:
    storm_on_seedance(tmp_path)
    with ArkFakes() as fakes:
        lint = fakes.run(["lint", "episodes/storm.yaml"], tmp_path)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert lint.stderr.count("SM140 warning") == 2, lint.stderr  # harbour-night's plate, together's frame
        build = fakes.run(["build", "episodes/storm.yaml", "--json", "-j", "4"], tmp_path)
        result = summary(build)
        assert build.returncode == 0 and result["failed"] == [], build.stderr
        keys = {e["id"]: e["key"] for e in result["rendered"]}
        clips = sorted(nid for nid in keys if nid.startswith("clip:"))
        assert clips == ["clip:harbour-night", "clip:lamp-fails@1", "clip:lamp-fails@2", "clip:storm-rolls-in",
                         "clip:together"]

        # One create per clip, told apart by the seed derived from each node's key.
        creates = fakes.ark.creates()
        assert len(creates) == len(clips) == len(fakes.ark.tasks)
        by_seed = {r.json()["seed"]: r for r in creates}
        assert set(by_seed) == {seed_for(keys[nid]) for nid in clips}
        assert all(n == 1 for n in fakes.tasks().values())

        # Every shot with characters sends its sheets (local-image renders) as reference images.
        cache = Cache(tmp_path / ".shotmake")
        try:
            def read(nid: str) -> bytes:
                return Path(cache.lookup(keys[nid]).path).read_bytes()  # type: ignore[union-attr]

            sheets = {"mei": read("sheet:mei"), "kai": read("sheet:kai")}
            plate = read("plate:harbour")
            metas = {nid: cache.lookup(keys[nid]).meta for nid in clips}  # type: ignore[union-attr]
        finally:
            cache.close()
        sent = {nid: by_seed[seed_for(keys[nid])] for nid in clips}
        assert [i["type"] for i in sent_content(sent["clip:storm-rolls-in"])] == ["text"]
        assert decoded_images(sent["clip:harbour-night"], "reference_image") == [sheets["kai"], plate]
        for take in ("clip:lamp-fails@1", "clip:lamp-fails@2"):
            assert decoded_images(sent[take], "reference_image") == [sheets["mei"]]
        together = decoded_images(sent["clip:together"], "reference_image")
        assert together[:2] == [sheets["mei"], sheets["kai"]] and len(together) == 3  # + lamp-fails' last frame
        for nid in clips:
            body = sent[nid].json()
            assert body["model"] == "dreamina-seedance-2-0-260128" and body["watermark"] is False
            assert body["ratio"] == "16:9" and body["resolution"] == "720p"
            assert all(i.get("role") in (None, "reference_image") for i in sent_content(sent[nid]))
        assert fakes.ark.storage.credentialed == [] and len(fakes.ark.storage.requests) == len(clips)

        # What `shotmake cost` sums is what each task reported (tokens), not the estimate.
        price = ROUTES["seedance-2.0"].price_for("720p")
        billed = {nid: round(metas[nid]["completion_tokens"] / TOKENS_PER_SECOND["720p"] * price, 4)
                  for nid in clips}
        assert {nid: metas[nid]["cost_usd"] for nid in clips} == billed
        spend = json.loads(fakes.run(["cost", "--json"], tmp_path).stdout)
        seedance = next(g for g in spend["groups"] if g["name"] == "seedance-2.0")
        assert seedance == {"name": "seedance-2.0", "cost_usd": round(sum(billed.values()), 4), "renders": 5}

        # A rebuild sends nothing at all.
        before = fakes.request_count()
        again = fakes.run(["build", "episodes/storm.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["rendered"] == []
        assert fakes.request_count() == before
        outputs = [lint.stdout, lint.stderr, build.stdout, build.stderr, again.stdout, again.stderr]
    assert not [o for o in outputs for s in fakes.secrets if s in o]
    assert files_containing([tmp_path], fakes.secrets) == []


# -- chaos and SIGKILL --------------------------------------------------------------------------------

#: Per-shot refusals, and how each must read.
REFUSALS = {"(s02)": ("job", r"content moderation.*OutputVideoSensitiveContentDetected"),
            "(s05)": ("privacy", r"real person.*stylised.*asset library")}


def squall(root: Path, shots: int) -> Path:
    lines = []
    for i in range(shots):
        who = ["{mei}", "{kai}", "{mei} and {kai}", "The sea"][i % 4]
        lines.append(f"  - id: s{i:02d}\n    prompt: \"{who} braves the squall on the pier (s{i:02d}).\"")
    return character_episode(root, "squall", "{provider: seedance-2.0, resolution: 720p, duration: 4}", lines)


def kill_and_restart(tmp_path: Path, seed: int, shots: int, kills: int) -> None:
    """Build ``shots`` Seedance shots under chaos, SIGKILLing at seeded points ``kills`` times, until done."""
    spec = squall(tmp_path, shots=shots)
    rng = random.Random(seed)
    with ArkFakes() as fakes:
        for marker, (mode, _) in REFUSALS.items():
            fakes.ark.blocked_terms[marker] = mode
        fakes.ark.inject(rate_limited("create", retry_after="0"))
        fakes.ark.inject(server_error("create", 503))
        fakes.ark.inject(server_error("get", 500))
        fakes.ark.lose_next_response("create")
        fakes.ark.reset_next_download()
        fakes.ark.truncate_next_download()
        fakes.ark.chaos(seed=seed, rate=0.15)
        killer = Killer(fakes, settle=0.2)
        done, runs, extra, outputs, final = 0, 0, [], [], None
        while final is None:
            runs += 1
            assert runs < 30 + 2 * kills, f"no end in sight after {runs} runs ({done} kills: {killer.landed_on})"
            proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", spec.name, "-k", "-j", "4",
                                     "--json", *extra], cwd=tmp_path, env=fakes.env(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            armed = done < kills
            if armed:
                killer.arm(proc, rng.randint(1, 8), after=rng.uniform(1.0, 4.0), mode=rng.choice(["before", "after"]))
            out, err = proc.communicate(timeout=300)
            killer.disarm()
            outputs += [out, err]
            if armed and killer.fired:
                done += 1
                continue
            extra = []
            failed = {e["id"]: e["error"] for e in summary(subprocess.CompletedProcess(proc.args, 0, out, err))["failed"]
                      if not e["error"].startswith("skipped")}
            uncertain = {nid for nid, error in failed.items() if "--resubmit-uncertain" in error}
            if uncertain:  # like a user who checked the console: the killed create never reached Ark
                markers = {f"({nid.split(':')[1]})" for nid in uncertain} - set(REFUSALS)
                created = [t.prompt for t in fakes.ark.tasks.values() if any(m in t.prompt for m in markers)]
                assert created == [], f"a task exists for an uncertain create: {killer.landed_on}"
                extra = ["--resubmit-uncertain"]
                continue
            transient = {nid: e for nid, e in failed.items() if f"({nid.split(':')[1]})" not in REFUSALS}
            if transient or done < kills:
                continue
            final = failed
        killer.detach()
        said = "\n".join(outputs)
        print(f"{runs} runs, kills on: {killer.landed_on}; {said.count('reconciled with job')} reconciled creates")
        assert set(final) == {"clip:s02", "clip:s05"}, final
        for marker, (_, words) in REFUSALS.items():
            assert re.search(words, final[f"clip:{marker[1:-1]}"]), final
        prompts = Counter(t.prompt for t in fakes.ark.tasks.values())
        for i in range(shots):
            made = [p for p in prompts if f"(s{i:02d})" in p]
            if i == 5:  # refused at create: no task
                assert made == [], prompts
            else:  # one task each; the moderated one too (refused once, never sent again)
                assert len(made) == 1 and prompts[made[0]] == 1, (i, prompts)
        assert sum(1 for s in fakes.servers for _, status in s.answered if 400 <= status < 599) >= 6
        assert fakes.ark.faults == [], "a planted fault was never met"
        assert fakes.ark.storage.credentialed == []
    assert not [s for s in fakes.secrets for text in outputs if s in text]
    assert files_containing([tmp_path], fakes.secrets) == []
    assert partial_renders(tmp_path) == [], "a partial render was cached or left behind"


def test_sigkill_and_chaos_on_seedance_still_create_each_clip_once(tmp_path: Path) -> None:
    kill_and_restart(tmp_path, seed=13, shots=8, kills=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 31])
def test_sigkill_20_times_across_20_seedance_shots_still_creates_each_clip_once(tmp_path: Path, seed: int) -> None:
    kill_and_restart(tmp_path, seed=seed, shots=20, kills=20)


def test_a_lost_create_answer_is_found_in_the_task_list_by_the_next_build(tmp_path: Path) -> None:
    spec = squall(tmp_path, shots=1)
    with ArkFakes() as fakes:
        killer = Killer(fakes, settle=0.2)
        proc = subprocess.Popen([sys.executable, "-m", "shotmake", "build", spec.name, "--json"], cwd=tmp_path,
                                env=fakes.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The sheet is local; the first request to the fakes is Seedance's create: performed, answer lost.
        killer.arm(proc, 1, mode="after")
        proc.communicate(timeout=120)
        killer.detach()
        assert killer.landed_on == [f"POST {fakes.ark.prefix}/contents/generations/tasks (created; answer lost)"]
        assert len(fakes.ark.tasks) == 1
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0, again.stderr
        assert "reconciled with job" in again.stderr and len(fakes.ark.tasks) == 1
        listed = [r for r in fakes.ark.requests if r.method == "GET" and "filter.model" in r.query]
        assert listed and listed[0].query["filter.model"] == ["dreamina-seedance-2-0-260128"]
        (task,) = fakes.ark.tasks.values()
        assert task.obj["status"] == "succeeded"


def test_a_wrong_key_fails_the_build_and_the_fixed_key_renders_without_resubmit_flags(tmp_path: Path) -> None:
    """A 401 says nothing about the shot: it is not remembered as the shot's refusal (the key is fixed next)."""
    spec = squall(tmp_path, shots=1)
    with ArkFakes() as fakes:
        wrong = {**fakes.env(), "ARK_API_KEY": "ark-wrong-key-0000"}
        first = subprocess.run([sys.executable, "-m", "shotmake", "build", spec.name, "--json"], cwd=tmp_path,
                               env=wrong, capture_output=True, text=True, timeout=120, check=False)
        assert first.returncode == 1 and "ARK_API_KEY" in first.stdout + first.stderr
        assert fakes.ark.tasks == {}
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stdout + again.stderr
        assert len(fakes.ark.tasks) == 1
