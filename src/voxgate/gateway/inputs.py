"""Audio sent inside a JSON string: base64 or a data URL, sniffed, bounded and decoded."""

import asyncio
import base64
import binascii
from typing import Literal

from voxgate.audio.decode import AudioDecodeError, AudioTooLongError, decode, plain_wav_samples
from voxgate.audio.pcm import PcmAudio
from voxgate.errors import InvalidRequestError, PayloadTooLargeError

RECOGNIZER_SAMPLE_RATE = 16_000
CHAT_SAMPLE_RATE = 24_000
# The gateway's own bound on one audio file (a request body is bounded too, by the operator's
# `max_body_bytes`): audio past a route's upload limit (OpenAI's 25 MB) is sent to it in pieces.
# Audio is bounded by its own size and duration, not by the characters its base64 takes.
MAX_AUDIO_BYTES = 64 * 1024 * 1024
# OpenAI refuses shorter files ("Minimum audio length is 0.1 seconds"); none holds a word.
MIN_AUDIO_SECONDS = 0.1

Container = Literal["wav", "mp3", "ogg", "flac", "mp4", "webm", "matroska", "aac"]

# The first bytes of the containers we decode. MP4/M4A says "ftyp" after a 4-byte size.
_SIGNATURES: tuple[tuple[bytes, Container], ...] = (
    (b"RIFF", "wav"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
    (b"\xff\xf2", "mp3"),
    (b"\xff\xf1", "aac"),
    (b"\xff\xf9", "aac"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
)
_EBML = b"\x1a\x45\xdf\xa3"
# The EBML header names its document type within its first few dozen bytes.
_WEBM_DOCTYPE = b"\x42\x82\x84webm"
_AUDIO_MIME_PREFIXES = ("audio/", "video/webm", "application/ogg")


def container_of(data: bytes) -> Container | None:
    """The container `data` starts like, from its first bytes; None when unknown."""
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(_EBML):
        return "webm" if _WEBM_DOCTYPE in data[:64] else "matroska"
    if data.startswith(b"RIFF") and data[8:12] != b"WAVE":
        return None
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def looks_like_audio(value: str) -> bool:
    """Whether a JSON string holds audio (an audio data URL, or base64 of a known container)."""
    if value.startswith("data:"):
        return value[5:].lower().startswith(_AUDIO_MIME_PREFIXES)
    try:
        head = base64.b64decode(value[:64], validate=True)
    except (binascii.Error, ValueError):
        return False
    return container_of(head) is not None


def audio_bytes(value: str, *, param: str = "input", max_bytes: int = MAX_AUDIO_BYTES) -> bytes:
    """The raw bytes of a base64 string or a `data:<mime>;base64,<data>` URL."""
    payload = value.strip()
    if payload.lower().startswith(("http://", "https://", "ftp://", "file:")):
        # Fetching a client's URL would let any caller make the gateway reach its own network.
        raise InvalidRequestError(
            f"Field '{param}' is a URL: this gateway never fetches audio by URL; send the audio "
            "itself, base64-encoded or as a data URL.",
            param=param,
            code="audio_url_not_allowed",
        )
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequestError(
                f"Field '{param}' is a data URL but not a base64 one "
                "(expected data:<mime>;base64,<data>).",
                param=param,
                code="invalid_base64",
            )
    # Measured before decoding, so that an oversized value is not copied once more.
    if len(payload) // 4 * 3 > max_bytes:
        raise _too_large(param, max_bytes)
    try:
        # Strict: what validate=True refuses, without its regex pass over the string.
        data = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError(
            f"Field '{param}' must be base64-encoded audio or a base64 data URL: {exc}.",
            param=param,
            code="invalid_base64",
        ) from exc
    if not data:
        raise InvalidRequestError(
            f"Field '{param}' holds no audio.", param=param, code="empty_input"
        )
    if len(data) > max_bytes:
        raise _too_large(param, max_bytes)
    return data


async def decoded_input(
    data: bytes, *, sample_rate: int, max_seconds: float, param: str = "input"
) -> PcmAudio:
    """`decode_input` on a worker thread, so that decoding never stalls the event loop; a WAV
    already at `sample_rate` (mono, 16-bit) is only sliced, on the loop: no thread hop."""
    if plain_wav_samples(data, sample_rate) is not None:
        return decode_input(data, sample_rate=sample_rate, max_seconds=max_seconds, param=param)
    return await asyncio.to_thread(
        decode_input, data, sample_rate=sample_rate, max_seconds=max_seconds, param=param
    )


def decode_input(
    data: bytes, *, sample_rate: int, max_seconds: float, param: str = "input"
) -> PcmAudio:
    try:
        audio = decode(data, sample_rate=sample_rate, max_seconds=max_seconds)
    except AudioTooLongError as exc:
        raise InvalidRequestError(
            f"The audio in '{param}' is longer than this gateway's limit of "
            f"{max_seconds:g} seconds.",
            param=param,
            code="audio_too_long",
        ) from exc
    except AudioDecodeError as exc:
        raise InvalidRequestError(
            f"Field '{param}' is not audio this gateway can decode ({exc}); send wav, mp3, "
            "ogg/opus, flac, m4a or webm.",
            param=param,
            code="invalid_audio",
        ) from exc
    if audio.duration_seconds < MIN_AUDIO_SECONDS:
        # A cut-off file decodes to a few samples; sent on, a provider refuses it with a 400
        # of its own that would read as the gateway's failure.
        raise InvalidRequestError(
            f"The audio in '{param}' is {audio.duration_seconds * 1000:.0f} ms long; the "
            f"shortest accepted is {MIN_AUDIO_SECONDS:g} seconds (is the file cut off?).",
            param=param,
            code="audio_too_short",
        )
    return audio


def _too_large(param: str, max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The audio in '{param}' is larger than {max_bytes // (1024 * 1024)} MB, this gateway's "
        "limit on one file.",
        param=param,
        code="audio_too_large",
    )
