"""Clones of one project sharing a remote cache on a real S3-protocol server (moto, loopback).

Clone A builds the pilot against the vendor fakes and pays for each render; clone B, with an
empty local cache, builds the same pilot paying for nothing and writes an identical master;
``pull`` + ``build --frozen`` on a third clone renders nothing. A damaged remote object is
refused and rendered once again; a remote that stops answering mid-build leaves the build
finishing locally; the storage credentials are written nowhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.fakes.harness import RemoteFakes, files_containing, node_prompts, pilot_project, summary
from tests.fakes.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server, StallingProxy

#: The remote, with timeouts: generous where the test is not about them (a loaded CI machine's moto can
#: take seconds to answer), two seconds where a stalled remote must be given up.
REMOTE = """
[cache]
remote = "{url}"
remote_connect_timeout = {timeout}
remote_read_timeout = {timeout}
remote_retries = 1
"""


def pilot_on_vendors(root: Path, url: str, timeout: float = 20.0) -> Path:
    """The pilot in a new folder ``root``: shots on Veo (fake Gemini API), sheets drawn by Gemini, remote ``url``."""
    root.mkdir()
    spec = pilot_project(root, lambda text: text.replace(
        "  provider: local ", "  provider: veo-3.1-fast\n  sheet_provider: gemini-3-pro-image ", 1))
    with (root / "shotmake.toml").open("a") as handle:
        handle.write(REMOTE.format(url=url, timeout=timeout))
    return spec


def clone(source: Path, dest: Path) -> Path:
    """A fresh clone: the spec, the config and the lock file, no cache, no outputs."""
    dest.mkdir()
    for name in ("pilot.yaml", "shotmake.toml", "pilot.lock"):
        if (source / name).exists():
            shutil.copy(source / name, dest / name)
    return dest / "pilot.yaml"


def build(fakes: RemoteFakes, spec: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return fakes.run(["build", spec.name, "--json", "-j", "4", *args], spec.parent, **env)


def test_a_render_is_paid_for_once_per_team(tmp_path: Path) -> None:
    with S3Server() as s3, RemoteFakes() as fakes:
        env = s3.env()
        spec_a = pilot_on_vendors(tmp_path / "a", s3.url())
        prompts = node_prompts(spec_a)
        paid = [nid for nid in prompts if nid.startswith(("clip:", "sheet:"))]
        first = build(fakes, spec_a, env)
        done = summary(first)
        assert first.returncode == 0, first.stderr
        creates = sum(fakes.video_jobs().values()) + sum(fakes.images().values())
        assert creates == len(paid) and creates > 0
        every = {e["id"] for e in done["rendered"]}
        assert len(s3.keys("cache/v1/keys/")) == len(every)  # every node's entry was published

        spec_b = clone(spec_a.parent, tmp_path / "b")
        second = build(fakes, spec_b, env)
        assert second.returncode == 0, second.stderr
        assert summary(second)["rendered"] == []
        assert sum(fakes.video_jobs().values()) + sum(fakes.images().values()) == creates  # 0 new creates
        spent = [json.loads(fakes.run(["cost", "--json"], spec.parent, **env).stdout)["cost_usd"]
                 for spec in (spec_a, spec_b)]
        assert spent[0] > 0 and spent[1] == 0  # paid for once, by clone A
        master_a = (spec_a.parent / "build" / "pilot.mp4").read_bytes()
        assert (spec_b.parent / "build" / "pilot.mp4").read_bytes() == master_a

        spec_c = clone(spec_a.parent, tmp_path / "c")
        pull = fakes.run(["pull", spec_c.name], spec_c.parent, **env)
        assert pull.returncode == 0, pull.stderr
        assert f"{len(every)} renders fetched" in pull.stdout
        requests = fakes.request_count()
        frozen = fakes.run(["build", spec_c.name, "--frozen", "--no-remote", "--json"], spec_c.parent, **env)
        assert frozen.returncode == 0, frozen.stderr
        assert summary(frozen)["rendered"] == [] and fakes.request_count() == requests
        assert (spec_c.parent / "build" / "pilot.mp4").read_bytes() == master_a

        # The storage credentials: sent to the server, written nowhere, printed nowhere.
        secrets = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
        for proc in (first, second, pull, frozen):
            assert not any(s in proc.stdout + proc.stderr for s in secrets)
        assert files_containing([tmp_path], secrets) == []
        import obstore

        store = s3.store()
        for name in s3.keys("cache/"):  # nor in anything uploaded
            data = bytes(obstore.get(store, name).bytes())
            assert not any(secret.encode() in data for secret in secrets), name


def test_a_damaged_remote_object_is_refused_and_rendered_once_again(tmp_path: Path) -> None:
    import obstore

    with S3Server() as s3, RemoteFakes() as fakes:
        env = s3.env()
        spec_a = pilot_on_vendors(tmp_path / "a", s3.url())
        first = build(fakes, spec_a, env)
        assert first.returncode == 0, first.stderr
        # Damage the remote object of one clip: same name, other bytes (the fake vendor may have given
        # other clips the same bytes: they share the object, and are refused with it).
        prompts = node_prompts(spec_a)
        from shotmake.cache import Cache

        cache = Cache(spec_a.parent / ".shotmake")
        try:
            digests = {e["id"]: cache.lookup(e["key"]).digest for e in summary(first)["rendered"]}  # type: ignore[union-attr]
        finally:
            cache.close()
        damaged = digests["clip:cliffs"]
        sharing = {nid for nid, digest in digests.items() if digest == damaged}
        obstore.put(s3.store(), f"cache/v1/objects/{damaged[:2]}/{damaged}.mp4", b"not the render" * 100)
        before = fakes.video_jobs()

        spec_b = clone(spec_a.parent, tmp_path / "b")
        second = build(fakes, spec_b, env)
        assert second.returncode == 0, second.stderr
        assert "refused the remote cache's object" in second.stderr and "clip:cliffs" in second.stderr
        assert {e["id"] for e in summary(second)["rendered"]} == sharing  # rendered once again, nothing else
        again = fakes.video_jobs() - before
        assert again == {prompts[nid][1]: 1 for nid in sharing}
        # The re-render replaced the damaged object: the next clone takes everything from the remote.
        spec_c = clone(spec_a.parent, tmp_path / "c")
        third = build(fakes, spec_c, env)
        assert third.returncode == 0 and summary(third)["rendered"] == [], third.stderr
        assert fakes.video_jobs() - before == again


def test_a_remote_that_stops_answering_mid_build_leaves_the_build_finishing_locally(tmp_path: Path) -> None:
    with S3Server() as s3, StallingProxy(s3.endpoint) as proxy, RemoteFakes() as fakes:
        spec = pilot_on_vendors(tmp_path / "a", s3.url(), timeout=2.0)
        proxy.stall_after(6)  # a few lookups and uploads go through, then nothing answers
        # The subprocess timeout is the hang detector: a build waiting on the stalled remote never returns.
        proc = fakes.run(["build", spec.name, "--json", "-j", "4"], spec.parent, timeout=90,
                         **s3.env(proxy.endpoint))
        assert proc.returncode == 0, proc.stderr
        assert proxy.stalled_requests > 0
        assert "is not answering" in proc.stderr and "building locally without it" in proc.stderr
        assert proc.stderr.count("is not answering") == 1  # said once, then the remote is left alone
        assert (spec.parent / "build" / "pilot.mp4").exists()
        assert summary(proc)["cached"] == []  # everything rendered here: nothing was in the remote yet


def test_remote_only_renders_nothing_and_no_remote_sends_nothing(tmp_path: Path) -> None:
    with S3Server() as s3, RemoteFakes() as fakes:
        env = s3.env()
        spec = pilot_on_vendors(tmp_path / "a", s3.url())
        only = build(fakes, spec, env, "--remote-only", "-k")
        assert only.returncode == 1
        assert fakes.request_count() == 0  # no vendor was called
        failed = summary(only)["failed"]
        refused = [e for e in failed if e["error"] != "skipped: an input failed"]
        assert {e["id"] for e in refused} >= {"sheet:mei", "sheet:kai", "clip:cliffs"}  # the leaves: none rendered
        assert all("--remote-only" in e["error"] and "does not have it" in e["error"] for e in refused)

        offline = build(fakes, spec, {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "--no-remote")
        assert offline.returncode == 0, offline.stderr
        assert "remote cache" not in offline.stderr
        assert s3.keys("cache/") == []
        push = fakes.run(["push", spec.name], spec.parent, **env)
        assert push.returncode == 0, push.stderr
        assert len(s3.keys("cache/v1/keys/")) == len(summary(offline)["rendered"])
