"""The audio formats the gateway returns, each with its content type and codec."""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from voxgate.types import AudioFormat

OUTPUT_SAMPLE_RATE = 24_000


@dataclass(frozen=True, slots=True)
class OutputFormat:
    name: AudioFormat
    content_type: str
    container: str | None
    codec: str
    decoded_sample_rate: int
    """What a decoder reports: Opus always decodes at 48 kHz whatever rate went in."""


OUTPUT_FORMATS: Mapping[AudioFormat, OutputFormat] = MappingProxyType(
    {
        "mp3": OutputFormat("mp3", "audio/mpeg", "mp3", "libmp3lame", OUTPUT_SAMPLE_RATE),
        "wav": OutputFormat("wav", "audio/wav", "wav", "pcm_s16le", OUTPUT_SAMPLE_RATE),
        "opus": OutputFormat("opus", "audio/ogg", "ogg", "libopus", 48_000),
        "flac": OutputFormat("flac", "audio/flac", "flac", "flac", OUTPUT_SAMPLE_RATE),
        "aac": OutputFormat("aac", "audio/aac", "adts", "aac", OUTPUT_SAMPLE_RATE),
        "pcm16": OutputFormat("pcm16", "audio/pcm", None, "pcm_s16le", OUTPUT_SAMPLE_RATE),
    }
)
