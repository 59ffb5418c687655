"""Cache integrity: a corrupt or deleted object is caught when it is used, evicted and rebuilt.

"Used" means read as the input of a node being built, or copied/linked into the output
directory. A null build (everything cached, the output already in place) reads no object:
it stays a few stats and an index read, however large the episode.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import shotmake.cache as cache_module
from shotmake.cache import Cache, file_digest
from shotmake.cli import cli

from .helpers import SMALL_EPISODE, check_store, lock_nodes, make_project, objects, shotmake


def object_of(cache_root: Path, digest: str) -> Path:
    (path,) = (cache_root / "objects" / digest[:2]).glob(f"{digest}.*")
    return path


def corrupt(path: Path) -> None:
    """Flip bytes in the middle of a read-only object, keeping its size (what a size check cannot see)."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A tiny project built once (copied by each test): its root and its lock's node -> (key, digest)."""
    root = tmp_path_factory.mktemp("built")
    spec = make_project(root)
    done = shotmake(["build", spec.name, "-q"], root)
    assert done.returncode == 0, done.stderr
    return root, lock_nodes(spec)


def copy_of(built: tuple[Path, dict[str, tuple[str, str]]], dest: Path) -> Path:
    import shutil

    shutil.copytree(built[0], dest, symlinks=True)
    (dest / "build" / "tiny.mp4").unlink()  # hard links do not survive the copy: place it again
    done = shotmake(["build", "tiny.yaml", "-q"], dest)
    assert done.returncode == 0, done.stderr
    return dest


def test_a_corrupt_input_is_detected_on_use_evicted_and_rebuilt(built, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    clean = built[1]
    cache_root = root / ".shotmake"
    victim = object_of(cache_root, clean["conform:a"][1])
    corrupt(victim)
    # Shot b changes: sequence:one is rebuilt and reads conform:a's object.
    spec = root / "tiny.yaml"
    spec.write_text(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at dawn."))
    done = shotmake(["build", spec.name, "--json", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert "conform:a" in done.stderr and "corrupt" in done.stderr and "rebuilt" in done.stderr, done.stderr
    rendered = {e["id"] for e in json.loads(done.stdout)["rendered"]}
    assert "conform:a" in rendered and "clip:a" not in rendered
    after = lock_nodes(spec)
    assert after["conform:a"] == clean["conform:a"], "the rebuilt object is the clean one again"
    check_store(cache_root)


def test_a_corrupt_output_is_not_linked_into_the_build_directory(built, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    clean = built[1]
    master = object_of(root / ".shotmake", clean["episode:tiny"][1])
    (root / "build" / "tiny.mp4").unlink()  # e.g. `shotmake clean`: the next build links it again
    corrupt(master)
    done = shotmake(["build", "tiny.yaml", "--json", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert "episode:tiny" in done.stderr and "corrupt" in done.stderr, done.stderr
    assert file_digest(root / "build" / "tiny.mp4") == clean["episode:tiny"][1]
    check_store(root / ".shotmake")


def test_a_deleted_object_is_rebuilt_with_a_warning(built, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    clean = built[1]
    victim = object_of(root / ".shotmake", clean["clip:c"][1])
    victim.unlink()
    done = shotmake(["build", "tiny.yaml", "--json", "-q"], root)
    assert done.returncode == 0, done.stderr
    assert "clip:c" in done.stderr and "missing" in done.stderr, done.stderr
    assert {e["id"] for e in json.loads(done.stdout)["rendered"]} == {"clip:c"}
    assert lock_nodes(root / "tiny.yaml") == clean
    check_store(root / ".shotmake")


def test_a_null_build_reads_no_object(built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Integrity is checked on use; a null build uses nothing, so it hashes nothing."""
    root = copy_of(built, tmp_path / "p")
    monkeypatch.chdir(root)
    digested: list[str] = []
    real = cache_module.file_digest

    def counting(path: str | Path) -> str:
        digested.append(str(path))
        return real(path)

    monkeypatch.setattr(cache_module, "file_digest", counting)
    result = CliRunner().invoke(cli, ["build", "tiny.yaml", "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert digested == []


def test_gc_removes_unreferenced_objects_and_temp_files_only(built, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    cache_root = root / ".shotmake"
    before = {p.name for p in objects(cache_root)}
    orphan = cache_root / "objects" / "00" / ("00" + "1" * 62 + ".mp4")
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"an object no index entry names")
    leftover = cache_root / "tmp" / "deadbeef.mp4"
    leftover.write_bytes(b"a render that never finished")
    done = shotmake(["gc"], root)
    assert done.returncode == 0 and "removed 2 files" in done.stdout, done.stdout + done.stderr
    assert {p.name for p in objects(cache_root)} == before and not leftover.exists()
    again = shotmake(["build", "tiny.yaml", "--json", "-q"], root)
    assert json.loads(again.stdout)["rendered"] == []
    check_store(cache_root)


def test_store_replaces_a_corrupt_object_of_the_same_content_name(tmp_path: Path) -> None:
    """A second key storing content already present must not index a corrupt file under that name."""
    cache = Cache(tmp_path / "cache")
    try:
        first = cache.temp_path(".mp4")
        first.write_bytes(b"clip bytes " * 100)
        art = cache.store("k1", first)
        corrupt(Path(art.path))
        second = cache.temp_path(".mp4")
        second.write_bytes(b"clip bytes " * 100)
        again = cache.store("k2", second)
        assert file_digest(again.path) == again.digest == art.digest
        assert not os.stat(again.path).st_mode & stat.S_IWUSR
    finally:
        cache.close()


def test_editing_an_output_changes_neither_the_cache_nor_other_outputs(built, tmp_path: Path) -> None:
    """Outputs are copies: a user who makes build/ writable and edits a file edits only that file."""
    root = copy_of(built, tmp_path / "p")
    assert shotmake(["--out-dir", "other", "build", "tiny.yaml", "-q"], root).returncode == 0
    mine, other = root / "build" / "tiny.mp4", root / "other" / "tiny.mp4"
    digest = file_digest(other)
    os.chmod(mine, 0o644)
    with open(mine, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\0" * 64)
    assert file_digest(other) == digest and file_digest(object_of(root / ".shotmake", digest)) == digest
    done = shotmake(["build", "tiny.yaml", "--json", "-q"], root)  # the edited output is put back
    assert done.returncode == 0 and json.loads(done.stdout)["rendered"] == [], done.stderr
    assert file_digest(mine) == digest


def test_frozen_fails_on_a_corrupt_object_instead_of_serving_or_rendering_it(built, tmp_path: Path) -> None:
    root = copy_of(built, tmp_path / "p")
    final = built[1]["episode:tiny"][1]
    corrupt(object_of(root / ".shotmake", final))
    (root / "build" / "tiny.mp4").unlink()
    done = shotmake(["build", "tiny.yaml", "--frozen"], root)
    assert done.returncode == 1 and "corrupt" in done.stderr, done.stderr
    assert not (root / "build" / "tiny.mp4").exists()
    again = shotmake(["build", "tiny.yaml", "--json", "-q"], root)  # a plain build renders it again
    assert again.returncode == 0 and file_digest(root / "build" / "tiny.mp4") == final, again.stderr
