"""Speech on the embedded engine with Piper, whole or phrase by phrase."""

import threading
from collections.abc import AsyncGenerator, Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.tempo import change_tempo
from voxgate.errors import InvalidRequestError
from voxgate.providers.local.engine import LocalEngine, stop_if_asked
from voxgate.providers.local.phrases import bounded_phrases, first_clause_apart
from voxgate.providers.protocols import ProviderUsage, SpeechRequest, SpeechResult, Upstream

if TYPE_CHECKING:
    from piper import PiperVoice

# Ten minutes of Piper's speech is far past 4,096 characters of prose; text that is much
# longer once read (emoji and symbols are read by name) is refused before it fills memory.
MAX_SPEECH_SECONDS = 600
# The most a phoneme takes to say, measured on the joe voice: 0.040 to 0.056 s across prose,
# digits, emoji read by name and a dozen scripts, with a quarter more. Text whose phonemes
# would take longer than MAX_SPEECH_SECONDS at this pace is refused before any is spoken.
MOST_SECONDS_PER_PHONEME = 0.07
INT16_PEAK = 32_767
SILENT_PEAK = 1e-8
# eSpeak reads C strings: a NUL would end the text there (Python refuses it outright), and no
# control character is spoken, so each is read as a space.
UNSPOKEN_CONTROLS = {code: " " for code in range(32) if chr(code) not in "\t\n\r"} | {127: " "}


class LocalSpeech:
    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine

    async def synthesize(self, request: SpeechRequest, upstream: Upstream) -> SpeechResult:
        voice_name = self._engine.models.voice_name(request.voice, upstream.model)
        job = partial(self._speak_whole, voice_name, request.text, request.speed)
        audio = await self._engine.run(job)
        return SpeechResult(audio, ProviderUsage(audio_seconds=audio.duration_seconds))

    def stream_sentences(
        self, request: SpeechRequest, upstream: Upstream
    ) -> AsyncGenerator[PcmAudio, None]:
        """One PcmAudio per phrase, each as soon as Piper has made it (the first clause apart,
        so the first audio comes sooner); close it to stop early."""
        voice_name = self._engine.models.voice_name(request.voice, upstream.model)
        job = partial(
            self._speak_phrases, voice_name, request.text, request.speed, first_clause=True
        )
        return self._engine.iterate(job)

    def _speak_whole(
        self, voice_name: str, text: str, speed: float, stop: threading.Event
    ) -> PcmAudio:
        voice = self._engine.voice(voice_name)
        phrases = self._speak_phrases(voice_name, text, speed, stop)
        samples = b"".join(phrase.samples for phrase in phrases)
        return PcmAudio(samples, voice.config.sample_rate)

    def _speak_phrases(
        self,
        voice_name: str,
        text: str,
        speed: float,
        stop: threading.Event,
        *,
        first_clause: bool = False,
    ) -> Iterator[PcmAudio]:
        # Speed is a tempo change rather than Piper's length_scale: measured on this voice,
        # length_scale 1/2 shortens speech only to 0.64 of its length and 1/4 only to 0.5.
        voice = self._engine.voice(voice_name)
        rate = voice.config.sample_rate
        spoken_samples = 0
        phrases = list(bounded_phrases(voice.phonemize(text.translate(UNSPOKEN_CONTROLS))))
        if first_clause:
            phrases = list(first_clause_apart(phrases))
        if sum(map(len, phrases)) * MOST_SECONDS_PER_PHONEME > MAX_SPEECH_SECONDS:
            raise _too_long()
        for phonemes in phrases:
            stop_if_asked(stop)
            samples = _pcm16(_phrase_audio(voice, phonemes))
            spoken_samples += samples.size
            if spoken_samples > MAX_SPEECH_SECONDS * rate:
                raise _too_long()
            yield change_tempo(PcmAudio(samples.tobytes(), rate), speed)
        if spoken_samples == 0:
            raise InvalidRequestError(
                "Field 'input' has nothing this engine can speak (no words, only "
                "punctuation or symbols).",
                param="input",
                code="nothing_to_speak",
            )


def _too_long() -> InvalidRequestError:
    return InvalidRequestError(
        f"Field 'input' would be more than {MAX_SPEECH_SECONDS} seconds of speech on this "
        "engine; send shorter text.",
        param="input",
        code="speech_too_long",
    )


def _phrase_audio(voice: "PiperVoice", phonemes: list[str]) -> npt.NDArray[np.float32]:
    audio = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes))
    assert isinstance(audio, np.ndarray), "alignments are not asked for"
    return audio.astype(np.float32, copy=False)


def _pcm16(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    # Each phrase is scaled to full range, as Piper does for each sentence.
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENT_PEAK:
        return np.zeros(audio.size, dtype=np.int16)
    scaled: npt.NDArray[np.int16] = np.clip(
        audio / peak * INT16_PEAK, -INT16_PEAK, INT16_PEAK
    ).astype(np.int16)
    return scaled
