"""The remote cache (``remote.py``) against a real S3-protocol server (moto, loopback) and a ``file://`` folder.

Each test takes the ``remote`` fixture twice over: once on S3, once on a folder, the same code path
through obstore. Failure paths use real failures: a port nobody listens on, a proxy that stops
answering, objects damaged on the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import obstore
import pytest

from shotmake.cache import Cache
from shotmake.config import parse_config
from shotmake.errors import RemoteCacheError, SpecError
from shotmake.redaction import redact
from shotmake.remote import RemoteCache, Timeouts, check_url, open_store
from tests.fakes.s3_server import ACCESS_KEY_ID, SECRET_ACCESS_KEY, S3Server, StallingProxy

#: For the tests about a remote that fails: given up after half a second.
FAST = Timeouts(connect=0.5, read=0.5, retries=0)
#: For a remote that stops answering after serving some requests: those must not time out on a loaded machine.
STALLING = Timeouts(connect=2, read=2, retries=0)
#: For the others: a loaded machine's moto may take seconds to answer, which is not what they test.
PATIENT = Timeouts(connect=10, read=20, retries=1)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


class Remote:
    """A ``RemoteCache`` on one backend, the raw store under it, and the warnings it gave."""

    def __init__(self, url: str, env: dict[str, str], raw: Any, prefix: str) -> None:
        self.url, self.env, self.raw, self.prefix = url, env, raw, prefix
        self.warnings: list[str] = []

    def open(self, *, only: bool = False) -> RemoteCache:
        return RemoteCache(open_store(self.url, PATIENT, self.env), self.url, only=only, warn=self.warnings.append)

    def damage(self, name: str, data: bytes) -> None:
        obstore.put(self.raw, f"{self.prefix}{name}", data)


@pytest.fixture(params=["s3", "file"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    if request.param == "file":
        folder = tmp_path / "share"
        from obstore.store import LocalStore

        folder.mkdir()
        return Remote(f"file://{folder}", {}, LocalStore(prefix=folder), "")
    server: S3Server = request.getfixturevalue("s3")
    prefix = f"t{abs(hash(request.node.name)) % 10**8}"
    return Remote(server.url(prefix), server.env(), server.store(), f"{prefix}/")


def rendered(cache: Cache, key: str, data: bytes, ext: str = ".mp4") -> Any:
    source = cache.temp_path(ext)
    source.write_bytes(data)
    return cache.store(key, source, {"node": f"clip:{key[:4]}", "provider": "veo-3.1", "cost_usd": 3.2})


def test_a_published_render_is_fetched_into_another_cache_digest_checked(remote: Remote, tmp_path: Path) -> None:
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    key = "ab" * 32
    art = rendered(a, key, b"\x00\x01video" * 5000)
    assert remote.open().publish(key, art, a)
    got = remote.open().fetch(key, b)
    assert got is not None and got.digest == art.digest and got.meta["provider"] == "veo-3.1"
    # Paid for by the machine that rendered it: this one spent nothing (`shotmake cost`, spend caps).
    assert got.meta["cost_usd"] == 0.0 and got.meta["remote_cost_usd"] == 3.2 and got.meta["from_remote"] is True
    assert Path(got.path).read_bytes() == Path(art.path).read_bytes()
    assert b.lookup(key) is not None and list((tmp_path / "b" / "tmp").iterdir()) == []
    assert remote.open().fetch("cd" * 32, b) is None and remote.warnings == []  # a miss is not a problem


def test_the_entry_is_json_and_write_once_the_first_of_two_racing_machines_wins(remote: Remote,
                                                                                 tmp_path: Path) -> None:
    key = "12" * 32
    caches = [Cache(tmp_path / f"m{n}") for n in range(6)]
    arts = [rendered(c, key, f"render number {n}".encode() * 100) for n, c in enumerate(caches)]
    machines = [remote.open() for _ in caches]
    start = threading.Barrier(len(caches))

    def race(n: int) -> None:
        start.wait()
        machines[n].publish(key, arts[n], caches[n])

    threads = [threading.Thread(target=race, args=(n,)) for n in range(len(caches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entry = json.loads(bytes(obstore.get(remote.raw, f"{remote.prefix}v1/keys/12/{key}.json").bytes()))
    assert entry["digest"] in {a.digest for a in arts} and entry["format"] == 1
    fetched = remote.open().fetch(key, Cache(tmp_path / "fresh"))
    assert fetched is not None and fetched.digest == entry["digest"]  # the winner's object is complete
    again = rendered(Cache(tmp_path / "late"), key, b"a later render")
    remote.open().publish(key, again)
    after = json.loads(bytes(obstore.get(remote.raw, f"{remote.prefix}v1/keys/12/{key}.json").bytes()))
    assert after == entry  # a later writer does not replace it


def test_a_damaged_object_is_refused_never_stored_and_replaced_by_the_next_publish(remote: Remote,
                                                                                    tmp_path: Path) -> None:
    a, b = Cache(tmp_path / "a"), Cache(tmp_path / "b")
    key = "34" * 32
    art = rendered(a, key, b"the real render" * 1000)
    remote.open().publish(key, art, a)
    name = f"v1/objects/{art.digest[:2]}/{art.digest}.mp4"
    for damage in (b"x" * art.size, b"short", b"the real render" * 1001):  # same size, shorter, longer
        remote.damage(name, damage)
        reader = remote.open()
        assert reader.fetch(key, b, "clip:sea") is None
        assert b.lookup(key) is None and list((tmp_path / "b" / "tmp").iterdir()) == []
        assert "clip:sea: refused" in remote.warnings[-1]
    # The node renders again (same bytes) and publishes: the object is replaced, the next fetch works.
    reader.publish(key, art, a)
    got = remote.open().fetch(key, b)
    assert got is not None and got.digest == art.digest


def test_an_entry_shotmake_did_not_write_is_ignored(remote: Remote, tmp_path: Path) -> None:
    import pickle

    key = "56" * 32
    cache = Cache(tmp_path / "c")
    for body in (pickle.dumps({"digest": "x"}), b'{"format": 1, "digest": "../../etc/passwd", "size": 1}',
                 json.dumps({"format": 1, "digest": "ab" * 32, "ext": "/../x", "size": 3}).encode(),
                 b"{" + b" " * (2 << 20) + b"}"):  # too big to be an entry: not even read
        remote.damage(f"v1/keys/56/{key}.json", body)
        assert remote.open().fetch(key, cache) is None
        assert "not one shotmake wrote" in remote.warnings[-1]
    # A digest from a lock file (input) that is not a digest is never made into an object name.
    assert remote.open().fetch(key, cache, digest="../../../etc/passwd") is None


def test_a_remote_that_is_down_is_given_up_once_and_only_mode_says_why(tmp_path: Path) -> None:
    warnings: list[str] = []
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nobody listens on port 9
    remote = RemoteCache(open_store("s3://b/p", FAST, env), "s3://b/p", warn=warnings.append)
    cache = Cache(tmp_path / "c")
    assert remote.fetch("78" * 32, cache) is None and remote.down is not None
    assert remote.fetch("9a" * 32, cache) is None
    assert not remote.publish("78" * 32, rendered(cache, "78" * 32, b"local render"))
    assert len(warnings) == 1 and "not answering" in warnings[0] and "building locally" in warnings[0]
    only = RemoteCache(open_store("s3://b/p", FAST, env), "s3://b/p", only=True, warn=warnings.append)
    with pytest.raises(RemoteCacheError, match="--remote-only.*is down"):
        only.fetch_for("bc" * 32, cache, "clip:sea")


def test_no_credentials_is_said_as_such_and_the_build_goes_on(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    warnings: list[str] = []
    env = {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_REGION": "us-east-1"}
    remote = RemoteCache(open_store(s3.url("anon"), FAST, env), s3.url("anon"), warn=warnings.append)
    assert remote.fetch("ab" * 32, Cache(tmp_path / "c")) is None
    assert len(warnings) == 1 and "found no credentials (set the storage SDK's environment variables" in warnings[0]


def test_a_remote_that_stops_answering_is_cut_by_the_read_timeout(s3: S3Server, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    with StallingProxy(s3.endpoint) as proxy:
        remote = RemoteCache(open_store(s3.url("stall"), STALLING, s3.env(proxy.endpoint)), s3.url("stall"),
                             warn=lambda text: None)
        assert remote.publish("de" * 32, rendered(cache, "de" * 32, b"a render" * 100))
        proxy.stall()
        assert remote.fetch("de" * 32, Cache(tmp_path / "other")) is None  # returns: the timeout cut it
        assert proxy.stalled_requests >= 1 and remote.down is not None and "reading" in remote.down


def test_a_download_cut_off_mid_body_leaves_nothing_in_the_cache(s3: S3Server, tmp_path: Path) -> None:
    source = Cache(tmp_path / "c")
    with StallingProxy(s3.endpoint) as proxy:
        remote = RemoteCache(open_store(s3.url("cut"), STALLING, s3.env(proxy.endpoint)), s3.url("cut"),
                             warn=lambda text: None)
        assert remote.publish("e0" * 32, rendered(source, "e0" * 32, bytes(range(256)) * 16384))  # 4 MiB
        proxy.stall_after_bytes(1 << 20)  # the entry, then 1 MiB of the object, then nothing
        dest = Cache(tmp_path / "dest")
        assert remote.fetch("e0" * 32, dest) is None and remote.down is not None and "downloading" in remote.down
        assert dest.lookup("e0" * 32) is None
        assert [p for p in (tmp_path / "dest").rglob("*") if p.is_file() and "index" not in p.parts
                and p.name != "lock"] == []  # no partial object, no temp file left


def test_a_remote_that_drips_its_answer_is_cut_by_the_transfer_timeout(s3: S3Server, tmp_path: Path) -> None:
    source = Cache(tmp_path / "c")
    with StallingProxy(s3.endpoint) as proxy:
        slow = Timeouts(connect=2, read=2, retries=0, transfer=3)
        remote = RemoteCache(open_store(s3.url("drip"), slow, s3.env(proxy.endpoint)), s3.url("drip"),
                             warn=lambda text: None)
        assert remote.publish("e1" * 32, rendered(source, "e1" * 32, b"x" * 65536))
        proxy.drip(0.05)  # a byte every 50 ms: each read gets data, the whole would take an hour
        assert remote.fetch("e1" * 32, Cache(tmp_path / "dest")) is None and remote.down is not None


def test_remote_only_fails_on_a_miss_instead_of_rendering(remote: Remote, tmp_path: Path) -> None:
    with pytest.raises(RemoteCacheError, match="does not have it"):
        remote.open(only=True).fetch_for("f0" * 32, Cache(tmp_path / "c"), "clip:sea")


@pytest.mark.parametrize(("url", "problem"), [
    ("s3://", "no bucket"),
    ("https://bucket/x", "unknown scheme"),
    ("s3://AKIA:secret@bucket/x", "credentials do not go in the URL"),
    ("gs://bucket/x?sig=abc", "no query"),
    ("file://share/x", "absolute path"),
    ("bucket/x", "unknown scheme (none)"),
])
def test_a_remote_url_that_cannot_work_is_refused_with_a_reason(url: str, problem: str) -> None:
    assert problem in (check_url(url) or "")


@pytest.mark.parametrize("url", ["s3://bucket/team/cache", "gs://bucket/x", "az://container/x", "file:///mnt/nas/x",
                                 "s3://bucket"])
def test_the_four_kinds_of_remote_are_accepted(url: str) -> None:
    assert check_url(url) is None


def test_stores_open_for_gcs_and_azure_from_their_environment_without_a_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_store("gs://bucket/x", FAST, {}) is not None
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(RemoteCacheError, match="cannot open the remote cache az://container/x: .*Account"):
        open_store("az://container/x", FAST, {})
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "teamrenders")
    assert open_store("az://container/x", FAST, {}) is not None


def test_credentials_never_travel_over_plain_http_to_another_host() -> None:
    with pytest.raises(RemoteCacheError, match="plain http"):
        open_store("s3://b/p", FAST, {"AWS_ENDPOINT_URL": "http://minio.example:9000"})


def test_the_storage_credentials_are_redacted_from_any_text() -> None:
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
           "AZURE_STORAGE_ACCOUNT_KEY": "azure-account-key-0123456789"}
    text = redact(f"denied {ACCESS_KEY_ID} {SECRET_ACCESS_KEY} azure-account-key-0123456789", env)
    assert ACCESS_KEY_ID not in text and SECRET_ACCESS_KEY not in text and "azure-account" not in text


def test_config_cache_remote_and_its_timeouts() -> None:
    config = parse_config('[cache]\nremote = "s3://team/shotmake"\nremote_read_timeout = 2.5\nremote_retries = 0\n')
    assert config.cache.remote == "s3://team/shotmake"
    assert (config.cache.remote_read_timeout, config.cache.remote_retries, config.cache.remote_connect_timeout,
            config.cache.remote_transfer_timeout) == (2.5, 0, 5.0, 900.0)
    assert parse_config("").cache.remote is None


@pytest.mark.parametrize(("text", "message"), [
    ('[cache]\nkeep_days = 3\nremote = "s3://k:s@b/x"\n', "shotmake.toml:3:1: cache.remote: credentials do not go"),
    ("[cache]\nremote = 3\n", "cache.remote: must be a URL string"),
    ('[cache]\nremote = "ftp://nas/x"\n', "unknown scheme ftp://"),
    ("[cache]\nremote_read_timeout = 0\n", "cache.remote_read_timeout: must be > 0"),
    ("[cache]\nremote_retries = 1.5\n", "cache.remote_retries: must be an integer"),
    ("[cache]\nremot = 1\n", "did you mean 'remote'"),
])
def test_config_errors_in_cache_remote_name_the_line_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_config(text, "shotmake.toml")
    assert message in caught.value.render()
