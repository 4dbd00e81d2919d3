"""Raw audio as it passes between the layers."""

from dataclasses import dataclass

BYTES_PER_SAMPLE = 2


@dataclass(frozen=True, slots=True)
class PcmAudio:
    """Mono signed 16-bit little-endian samples at `sample_rate` Hz."""

    samples: bytes
    sample_rate: int

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / BYTES_PER_SAMPLE / self.sample_rate
