"""The speech cache's files: whole or absent, bounded in bytes, the least recently used evicted
first. Recency is set by hand where it matters (file times are coarse; tests do not sleep)."""

import os
from pathlib import Path

from voxgate.store.speech_files import MAGIC, TEMP_PREFIX, CachedAudio, SpeechFiles

HOUR_NS = 3600 * 10**9


def aged(files: SpeechFiles, key: str, hours_ago: int) -> None:
    """Make `key` last used `hours_ago` hours ago."""
    when = os.stat(files.path(key)).st_mtime_ns - hours_ago * HOUR_NS
    os.utime(files.path(key), ns=(when, when))


def entry(size: int, fill: bytes = b"a") -> CachedAudio:
    return CachedAudio(fill * size, audio_milliseconds=size)


def stored_size(files: SpeechFiles, key: str) -> int:
    return files.path(key).stat().st_size


def test_an_answer_comes_back_as_it_was_kept(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path / "cache", max_bytes=10_000)
    assert files.get("k1") is None

    assert files.put("k1", CachedAudio(b"\x00\x01audio\n\xff", 1234))

    assert files.get("k1") == CachedAudio(b"\x00\x01audio\n\xff", 1234)
    assert files.get("k2") is None


def test_a_write_leaves_no_temporary_file_and_replaces_in_one_step(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path, max_bytes=10_000)
    files.put("k", entry(100))
    files.put("k", entry(200, b"b"))

    assert [path.name for path in tmp_path.iterdir()] == [files.path("k").name]
    assert files.get("k") == entry(200, b"b")


def test_a_torn_file_is_a_miss_and_is_removed(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path, max_bytes=10_000)
    files.put("k", entry(100))
    whole = files.path("k").read_bytes()
    files.path("k").write_bytes(whole[:-10])

    assert files.get("k") is None
    assert not files.path("k").exists()
    files.path("k").write_bytes(b"not a cache file")
    assert files.get("k") is None


def test_the_least_recently_used_go_first_once_the_bytes_pass_the_bound(tmp_path: Path) -> None:
    probe = SpeechFiles(tmp_path / "probe", max_bytes=10**9)
    probe.put("x", entry(1000))
    one = stored_size(probe, "x")  # an entry of 1000 audio bytes with its header
    files = SpeechFiles(tmp_path / "cache", max_bytes=3 * one)
    for key, hours in (("old", 3), ("older", 4), ("newer", 1)):
        files.put(key, entry(1000))
        aged(files, key, hours)
    assert files.get("older") is not None  # used now: the most recent

    files.put("new", entry(1000))

    kept = sorted(path.stem for path in (tmp_path / "cache").iterdir())
    assert kept == ["new", "newer", "older"]
    assert sum(path.stat().st_size for path in (tmp_path / "cache").iterdir()) <= 3 * one


def test_a_large_answer_evicts_as_many_as_it_needs(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path, max_bytes=5000)
    for index in range(4):
        files.put(f"small{index}", entry(1000))
        aged(files, f"small{index}", 10 - index)

    files.put("large", entry(3000))

    assert sorted(path.stem for path in tmp_path.iterdir()) == ["large", "small3"]


def test_an_answer_larger_than_the_bound_is_not_kept(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path, max_bytes=500)
    files.put("small", entry(100))

    assert not files.put("huge", entry(1000))

    assert files.get("huge") is None
    assert files.get("small") == entry(100)


def test_a_temporary_file_left_long_ago_is_swept_and_a_fresh_one_is_not(tmp_path: Path) -> None:
    files = SpeechFiles(tmp_path, max_bytes=10_000)
    abandoned, writing = tmp_path / f"{TEMP_PREFIX}dead", tmp_path / f"{TEMP_PREFIX}live"
    abandoned.write_bytes(MAGIC)
    writing.write_bytes(MAGIC)
    old = abandoned.stat().st_mtime_ns - 2 * HOUR_NS
    os.utime(abandoned, ns=(old, old))

    files.put("k", entry(10))

    assert not abandoned.exists()
    assert writing.exists()


def test_two_processes_sharing_the_directory_keep_one_bound(tmp_path: Path) -> None:
    probe = SpeechFiles(tmp_path / "probe", max_bytes=10**9)
    probe.put("x", entry(1000))
    one = stored_size(probe, "x")
    first, second = (SpeechFiles(tmp_path / "shared", max_bytes=4 * one) for _ in range(2))

    for index in range(10):
        writer = (first, second)[index % 2]
        writer.put(f"k{index}", entry(1000))
        aged(writer, f"k{index}", 100 - index)  # each older than the next

    kept = sorted(path.stem for path in (tmp_path / "shared").iterdir())
    assert kept == ["k6", "k7", "k8", "k9"]
    assert second.get("k6") == first.get("k6") == entry(1000)
