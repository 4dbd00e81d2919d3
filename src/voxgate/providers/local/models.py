"""The embedded engine's models, read from models.yaml: which files serve which upstream model."""

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from voxgate.yaml_text import load_yaml

MODELS_FILE = Path(__file__).with_name("models.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PackageFile(_Frozen):
    """A file or directory inside an installed Python package."""

    package: str
    path: str

    def resolve(self) -> Path:
        return Path(str(files(self.package).joinpath(self.path)))


class VoiceSpec(_Frozen):
    model: PackageFile
    config: PackageFile


class SpeechModels(_Frozen):
    engine: str
    voices: dict[str, VoiceSpec] = Field(min_length=1)


class RecognizerSpec(_Frozen):
    directory: PackageFile = Field(description="The CTranslate2 model directory.")
    model_parts: tuple[PackageFile, ...] = Field(
        default=(), description="When set, model.bin is these files concatenated in order."
    )
    multilingual: bool
    beam_size: int = Field(ge=1)
    vad_filter: bool


class LocalModels(_Frozen):
    speech: SpeechModels
    transcription: dict[str, RecognizerSpec] = Field(min_length=1)

    def voice_name(self, requested_voice: str, upstream_model: str) -> str:
        """The voice the request picked, or else the voice the route named."""
        voices = self.speech.voices
        if upstream_model not in voices and upstream_model != self.speech.engine:
            raise ValueError(f"unknown local speech model {upstream_model!r}")
        for name in (requested_voice, upstream_model):
            if name in voices:
                return name
        raise ValueError(f"unknown local voice {requested_voice!r}; known: {', '.join(voices)}")

    def recognizer(self, name: str) -> RecognizerSpec:
        if name not in self.transcription:
            known = ", ".join(self.transcription)
            raise ValueError(f"unknown local transcription model {name!r}; known: {known}")
        return self.transcription[name]


def load_local_models(path: Path = MODELS_FILE) -> LocalModels:
    return LocalModels.model_validate(load_yaml(path.read_text(encoding="utf-8")))
