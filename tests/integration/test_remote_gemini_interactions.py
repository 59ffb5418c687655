"""Gemini Omni Flash (Interactions API) end to end through the CLI, under chaos and SIGKILL.

* The pilot episode, its character shots re-routed to ``gemini-omni`` (sheets drawn by
  ``gemini-3-pro-image``), builds once against the fake: one interaction per clip, the sheets
  arrive as reference images (with the continuity frame where a shot has ``after:``), and a
  rebuild sends nothing. The fake answers GETs with the video inline, as Google's guide warns.
* The chaos and SIGKILL loops of ``test_remote_chaos`` over an Omni-only episode: every fault
  mode of the fake (429 + Retry-After, 5xx, overload, resets, truncated bodies, safety blocks,
  expired videos, stalls) and kills at seeded points; every clip is created exactly once and
  nothing partial is cached. Omni cannot list interactions, so a create cut off by a kill is
  refused until ``--resubmit-uncertain`` (given, like a user who checked the console, only after
  the test has seen that the fake never received it).
"""

from __future__ import annotations

import base64
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shotmake.cache import Cache
from tests.fakes.gemini_interactions_server import FakeInteractions, plain_prompt
from tests.fakes.google_server import (
    overloaded,
    rate_limited,
    reset_download,
    server_error,
    truncated_download,
)
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
    write_fast_config,
)
from tests.integration.test_remote_chaos import (
    Chaos,
    check_one_create_per_rendered_node,
    check_terminal_failures,
    failures,
    faulted_answers,
)


def omni_fakes(**options: object) -> RemoteFakes:
    """The usual fakes, with the Gemini API one also speaking the Interactions API."""
    return RemoteFakes(gemini=FakeInteractions(api_key=GEMINI_KEY, polls_until_done=2, **options))  # type: ignore[arg-type]


def pilot_on_omni(root: Path) -> Path:
    """The demo pilot with every character shot on gemini-omni and the sheets on Gemini image."""
    return pilot_project(root, lambda text: re.sub(
        r"(\n    characters: \[[^\]]*\])", r"\1\n    provider: gemini-omni",
        text.replace("  provider: local ", "  provider: local\n  sheet_provider: gemini-3-pro-image ")))


def test_pilot_on_gemini_omni_builds_once_with_sheets_as_reference_images(tmp_path: Path) -> None:
    spec = pilot_on_omni(tmp_path)
    prompts = node_prompts(spec)
    omni_clips = {nid: p for nid, (route, p) in prompts.items() if route == "gemini-omni"}
    assert set(omni_clips) == {"clip:mei-lamp", "clip:mei-sees", "clip:kai-radio", "clip:meet", "clip:plan"}
    with omni_fakes(inline_get=True) as fakes:
        fake = fakes.gemini
        assert isinstance(fake, FakeInteractions)
        build = fakes.run(["build", spec.name, "--json", "-j", "4"], tmp_path)
        result = summary(build)
        assert build.returncode == 0 and result["failed"] == [], build.stderr
        assert fakes.video_jobs() == {p: 1 for p in omni_clips.values()}  # one interaction per clip
        assert sum(fakes.images().values()) == 2  # Mei's and Kai's sheets, once each

        cache = Cache(tmp_path / ".shotmake")
        try:
            keys = {e["id"]: e["key"] for e in result["rendered"]}
            stored = {nid: Path(cache.lookup(key).path).read_bytes()  # type: ignore[union-attr]
                      for nid, key in keys.items() if nid.startswith(("sheet:", "frame:"))}
            metas = {nid: cache.lookup(keys[nid]).meta for nid in omni_clips}  # type: ignore[union-attr]
        finally:
            cache.close()
        by_prompt = {plain_prompt(fake.texts(op.body)[0]): op for op in fake.interactions()}

        def sent(nid: str) -> list[bytes]:
            return [base64.b64decode(b["data"]) for b in fake.images_sent(by_prompt[omni_clips[nid]])]

        def text(nid: str) -> str:
            return fake.texts(by_prompt[omni_clips[nid]].body)[0]

        assert sent("clip:mei-lamp") == [stored["sheet:mei"]] and sent("clip:kai-radio") == [stored["sheet:kai"]]
        assert sent("clip:meet") == [stored["sheet:mei"], stored["sheet:kai"]]
        assert text("clip:meet") == omni_clips["clip:meet"] + "\n\n[# References <IMAGE_REF_0>@Image1 <IMAGE_REF_1>@Image2]"
        # after: the continuity frame first (the frame task), then the sheet as a reference.
        assert sent("clip:mei-sees") == [stored["frame:mei-lamp"], stored["sheet:mei"]]
        assert text("clip:mei-sees").endswith("[# Sources <FIRST_FRAME>@Image1] [# References <IMAGE_REF_0>@Image2]")
        assert by_prompt[omni_clips["clip:mei-sees"]].body["generation_config"]["video_config"]["task"] == \
            "image_to_video"
        for nid in omni_clips:
            assert metas[nid]["provider"] == "gemini-omni" and metas[nid]["job_id"] in fake.operations

        before = fakes.request_count()
        again = fakes.run(["build", spec.name, "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["rendered"] == []
        assert fakes.request_count() == before  # a rebuild sends nothing at all
        outputs = build.stdout + build.stderr + again.stdout + again.stderr
    assert not [s for s in fakes.secrets if s in outputs]
    assert files_containing([tmp_path], fakes.secrets) == []


# -- chaos and SIGKILL ------------------------------------------------------------------------------

def omni_episode(root: Path, seed: int, shots: int) -> Chaos:
    """A seeded Omni episode: character shots (sheets), plain ones, `after:` frames and extensions."""
    rng = random.Random(seed)
    kinds = ["char"] * 4 + ["plain"] * 3 + ["after"] * 2 + ["ext"] * 2
    plan = ["char", "plain"] + [rng.choice(kinds) for _ in range(shots - 2)]
    lines: list[str] = []
    sources: set[str] = set()
    free: list[str] = []  # shots nothing depends on yet, usable as an after:/extends: source
    for i, kind in enumerate(plan):
        sid, tag = f"s{i:02d}", f"(s{i:02d})"
        if kind in ("after", "ext") and free:
            source = free.pop(rng.randrange(len(free)))
            sources.add(source)
            link = f"extends: {source}\n    duration: 4" if kind == "ext" else f"after: {source}\n    duration: 5"
            lines.append(f"  - id: {sid}\n    prompt: \"{{mei}} follows the signal down the pier {tag}.\"\n    {link}")
        elif kind == "char":
            who = rng.choice(["{mei}", "{kai}", "{mei} and {kai}"])
            lines.append(f"  - id: {sid}\n    prompt: \"{who} climb the spiral stairs {tag}.\"")
        else:
            lines.append(f"  - id: {sid}\n    prompt: Waves break on the black rocks {tag}.\n    duration: 4")
        free.append(sid)
    faults: dict[str, str] = {}
    leaves = [f"s{i:02d}" for i in range(len(plan)) if f"s{i:02d}" not in sources]
    rng.shuffle(leaves)
    for kind, sid in zip(["rai", "stall", "expired"] + (["rai"] if shots >= 16 else []), leaves):
        faults[sid] = kind
    spec = character_episode(root, "omni", "{provider: gemini-omni, sheet_provider: gemini-3-pro-image, "
                             "resolution: 720p, duration: 8}", lines, per_sequence=5)
    chaos = Chaos(spec=spec, faults=faults)
    chaos.prompts = node_prompts(spec)
    return chaos


def plant(fakes: RemoteFakes, chaos: Chaos, seed: int, rate: float) -> None:
    """Per-shot outcomes by prompt marker, one of each transient fault, and seeded chaos."""
    for sid, kind in chaos.faults.items():
        fakes.gemini.prompt_outcomes[f"({sid})"] = kind
    fakes.gemini.faults += [rate_limited("create", 0), overloaded("create"), server_error("poll", 500),
                            server_error("poll", 503), reset_download(after=900), truncated_download(missing=2000)]
    fakes.gemini.chaos = random.Random(seed + 1)
    fakes.gemini.chaos_rate = rate


def build(fakes: RemoteFakes, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(["build", "omni.yaml", "-k", "-j", "6", "--json", "-q", *extra], root, timeout=300)


def test_omni_chaos_fails_only_rejected_shots_and_creates_each_render_once(tmp_path: Path) -> None:
    chaos = omni_episode(tmp_path, seed=17, shots=12)
    with omni_fakes() as fakes:
        plant(fakes, chaos, 17, rate=0.12)
        first = build(fakes, tmp_path)
        failed = failures(summary(first))
        stalled = chaos.clips(frozenset({"stall"}))
        for nid in stalled:
            assert "stalled at" in failed.pop(nid), nid
        check_terminal_failures(chaos, failed)
        assert first.returncode == 1
        fakes.gemini.finish_all()  # the stalled interaction finishes: the next build resumes it
        again = build(fakes, tmp_path)
        failed = failures(summary(again))
        check_terminal_failures(chaos, failed)
        check_one_create_per_rendered_node(fakes, chaos, set(chaos.prompts) - set(failed))
        jobs = fakes.video_jobs()
        for nid in chaos.clips(frozenset({"rai", "expired"})):  # refused once, not created again
            assert jobs[chaos.prompt(nid)] == 1, nid
        assert faulted_answers(fakes) >= 8, "the chaos did not happen"
        assert fakes.gemini.faults == [], "a planted fault was never met"
        outputs = first.stdout + first.stderr + again.stdout + again.stderr
    assert not [s for s in fakes.secrets if s in outputs]
    assert files_containing([tmp_path], fakes.secrets) == []
    assert partial_renders(tmp_path) == [], "a partial render was cached or left behind"


def kill_and_restart(tmp_path: Path, seed: int, shots: int, kills: int) -> None:
    """Build under chaos, SIGKILLing at seeded points ``kills`` times, until done; count the creates."""
    chaos = omni_episode(tmp_path, seed, shots)
    rng = random.Random(seed)
    with omni_fakes() as fakes:
        plant(fakes, chaos, seed, rate=0.1)
        killer = Killer(fakes, settle=0.2)
        done_kills, runs, extra, outputs, retried, resubmitted = 0, 0, [], [], [], 0
        final: dict[str, str] | None = None
        while final is None:
            runs += 1
            assert runs < 40 + 3 * kills, f"no end in sight after {runs} runs ({done_kills} kills)"
            proc = subprocess.Popen(
                [sys.executable, "-m", "shotmake", "build", chaos.spec.name, "-k", "-j", "6", "--json", *extra],
                cwd=tmp_path, env=fakes.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            armed = done_kills < kills
            if armed:
                # Later than the chaos test's kills: this episode's first requests come after the sheets.
                killer.arm(proc, rng.randint(1, 24), after=rng.uniform(0.8, 4.0))
            out, err = proc.communicate(timeout=300)
            killer.disarm()
            outputs += [out, err]
            if armed and killer.fired:
                done_kills += 1
                continue
            extra = []
            failed = failures(summary(subprocess.CompletedProcess(proc.args, proc.returncode, out, err)))
            uncertain = {nid for nid, error in failed.items() if "--resubmit-uncertain" in error}
            stalled = {nid for nid, error in failed.items() if "stalled at" in error}
            if uncertain:
                # No list endpoint: shotmake refused. Like a user who checked the console, resubmit
                # only what the fake shows was never created.
                jobs = fakes.video_jobs()
                created = {nid: jobs[chaos.prompt(nid)] for nid in uncertain - chaos.clips(frozenset(chaos.faults.values()))}
                assert not any(created.values()), f"kills: {killer.landed_on}\njobs: {created}\n{failed}"
                extra = ["--resubmit-uncertain"]
                resubmitted += len(uncertain)
            if stalled:
                fakes.gemini.finish_all()
            transient = {nid: error for nid, error in failed.items()
                         if nid not in uncertain | stalled and not chaos.explains(nid, error)}
            retried += [f"{nid}: {error}" for nid, error in transient.items()]
            assert len(retried) <= 3, f"transient failures keep coming: {retried}"
            if uncertain or stalled or transient or done_kills < kills:
                continue
            final = failed
        killer.detach()
        said = "\n".join(outputs)
        print(f"{runs} runs, {done_kills} kills on: {', '.join(killer.landed_on)}; "
              f"{said.count('resuming job')} resumes, {resubmitted} uncertain creates resubmitted, "
              f"{faulted_answers(fakes)} faulted answers; "
              f"rebuilt after: {retried or 'nothing'}")
        check_terminal_failures(chaos, final)
        assert done_kills >= kills, f"only {done_kills} kills landed ({killer.landed_on})"
        check_one_create_per_rendered_node(fakes, chaos, set(chaos.prompts) - set(final))
        assert faulted_answers(fakes) >= 5, "the chaos did not happen"
    assert not [s for s in fakes.secrets for text in outputs if s in text]
    assert files_containing([tmp_path], fakes.secrets) == []
    assert partial_renders(tmp_path) == [], "a partial render was cached or left behind"


def test_omni_sigkill_at_random_points_and_restart_still_creates_each_render_once(tmp_path: Path) -> None:
    kill_and_restart(tmp_path, seed=5, shots=8, kills=6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 29])
def test_omni_sigkill_20_times_across_20_shots_still_creates_each_render_once(tmp_path: Path, seed: int) -> None:
    kill_and_restart(tmp_path, seed=seed, shots=20, kills=20)


def test_a_shut_down_omni_model_makes_the_route_unavailable_and_the_fallback_renders(tmp_path: Path) -> None:
    shots = {"sea": "Establishing shot of a grey sea under rain clouds.", "gull": "A gull hangs in the wind."}
    lines = [f"  - id: {sid}\n    prompt: {prompt}" for sid, prompt in shots.items()]
    (tmp_path / "gone.yaml").write_text(
        "version: 1\nepisode: gone\ndefaults: {provider: gemini-omni, resolution: 720p, duration: 4}\n"
        "shots:\n" + "\n".join(lines) + "\nsequences:\n  - id: all\n    shots: [sea, gull]\n"
        "delivery:\n  format: {resolution: 480p, fps: 12}\n")
    write_fast_config(tmp_path)
    with (tmp_path / "shotmake.toml").open("a") as config:
        config.write('\n[routes."gemini-omni"]\nfallback = ["local"]\n')
    with omni_fakes() as fakes:
        fakes.gemini.gone_models.add("gemini-omni-1.2-flash")  # Google answers 404 "no longer available"
        done = fakes.run(["build", "gone.yaml", "--json", "-j", "1"], tmp_path)
        result = summary(done)
        assert done.returncode == 0 and result["failed"] == [], done.stderr
        assert fakes.video_jobs() == {}  # nothing was created (a 404 creates no job)
        # The route is unavailable for the rest of the build: one refused create, not one per shot.
        assert fakes.gemini.count("POST", "/v1beta/interactions") == 1
        assert "no longer available" in done.stdout + done.stderr


def test_an_invalid_key_fails_the_build_and_the_fixed_key_renders_without_resubmit_flags(tmp_path: Path) -> None:
    """Google answers a bad key with 400 "API key not valid": about the key, not the shot, so not remembered."""
    (tmp_path / "key.yaml").write_text(
        "version: 1\nepisode: key\ndefaults: {provider: gemini-omni, resolution: 720p, duration: 4}\n"
        "shots:\n  - id: sea\n    prompt: A grey sea under rain clouds.\n"
        "sequences:\n  - id: all\n    shots: [sea]\ndelivery:\n  format: {resolution: 480p, fps: 12}\n")
    write_fast_config(tmp_path)
    with omni_fakes() as fakes:
        first = fakes.run(["build", "key.yaml", "--json"], tmp_path, GEMINI_API_KEY="AIza-not-a-valid-key-0000")
        assert first.returncode == 1 and "API key not valid" in first.stdout + first.stderr
        assert fakes.video_jobs() == {}
        again = fakes.run(["build", "key.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["failed"] == [], again.stdout + again.stderr
        assert sum(fakes.video_jobs().values()) == 1
