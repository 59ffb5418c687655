"""The manifests a cache remembers per node id, for plan's reasons (Cache.record_manifest/manifests)."""

from __future__ import annotations

from pathlib import Path

from shotmake.cache import Cache


def test_history_is_newest_first_bounded_and_without_repeats(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    try:
        for i in range(10):
            cache.record_manifest("ep", "clip:a", f"k{i}", {"prompt": f"p{i}"})
        cache.record_manifest("ep", "clip:a", "k5", {"prompt": "p5"})  # built again: moves to the front
        records = cache.manifests("ep", "clip:a")
        assert [r["key"] for r in records] == ["k5", "k9", "k8", "k7", "k6", "k4", "k3", "k2"]
        assert records[0]["manifest"] == {"prompt": "p5"}
        assert cache.manifests("ep", "clip:b") == [] and cache.manifests("other", "clip:a") == []
    finally:
        cache.close()
    reopened = Cache(tmp_path / "cache")
    try:
        reopened.prefetch_manifests("ep", ["clip:a", "clip:b"])
        assert [r["key"] for r in reopened.manifests("ep", "clip:a")][:2] == ["k5", "k9"]
    finally:
        reopened.close()


def test_a_cache_without_histories_offers_its_last_build_record(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    try:
        cache.record_build("ep", "clip:a", "k1", {"prompt": "old"})
        assert cache.manifests("ep", "clip:a") == [{"key": "k1", "manifest": {"prompt": "old"}}]
    finally:
        cache.close()
