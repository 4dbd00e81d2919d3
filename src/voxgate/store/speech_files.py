"""Cached speech on disk: one file per answer, named by its key, bounded in bytes, the answers
used least recently removed first.

Every process of a host shares the directory, and none keeps an index of its own: a file
appears whole or not at all (written aside, then renamed into place), a read touches the
file's time (recency is the files' modification times), and each write scans the directory
and evicts down to the bound, so the bound holds whichever process wrote last. The methods do
file I/O: call them off the event loop, but for a look (`size`) or a small read.
"""

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

# A file starts with this line, then one JSON line of what it holds, then the audio.
MAGIC = b"voxgate-speech 1\n"
SUFFIX = ".speech"
TEMP_PREFIX = ".tmp-"
# A temporary file this old was left by a process that stopped mid-write.
ABANDONED_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class CachedAudio:
    """A speech answer as it was delivered: its encoded audio and how long it plays."""

    audio: bytes
    audio_milliseconds: int


class SpeechFiles:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

    def size(self, key: str) -> int | None:
        """The bytes the answer under `key` takes on disk, if there is one."""
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def get(self, key: str) -> CachedAudio | None:
        """The answer kept under `key`, now the most recently used; None when there is none
        (or it was evicted a moment ago, or is not whole: then it is removed)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with contextlib.suppress(FileNotFoundError):  # evicted since: served all the same
            os.utime(path)
        cached = _parsed(data)
        if cached is None:
            _remove(path)
        return cached

    def put(self, key: str, cached: CachedAudio) -> bool:
        """Keep `cached` under `key`, evicting the least recently used past the bound; False
        when the answer alone is larger than the bound (it is not kept)."""
        header = orjson.dumps(
            {"audio_milliseconds": cached.audio_milliseconds, "bytes": len(cached.audio)}
        )
        data = MAGIC + header + b"\n" + cached.audio
        if len(data) > self.max_bytes:
            return False
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.directory / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, self.path(key))
        except BaseException:
            _remove(temporary)
            raise
        self.evict()
        return True

    def evict(self) -> None:
        """Remove the least recently used answers until the directory is within its bound
        (and what a process left mid-write long ago)."""
        now = time.time()
        kept: list[tuple[int, int, str]] = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # evicted by another process meanwhile
                    continue
                if entry.name.startswith(TEMP_PREFIX):
                    if now - stat.st_mtime > ABANDONED_SECONDS:
                        _remove(Path(entry.path))
                elif entry.name.endswith(SUFFIX):
                    kept.append((stat.st_mtime_ns, stat.st_size, entry.path))
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept):
            if total <= self.max_bytes:
                break
            _remove(Path(path))
            total -= size


def _parsed(data: bytes) -> CachedAudio | None:
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    header = orjson.loads(data[len(MAGIC) : end])
    audio = data[end + 1 :]
    if len(audio) != header["bytes"]:
        return None
    return CachedAudio(audio, int(header["audio_milliseconds"]))


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
