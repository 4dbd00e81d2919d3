"""Audio sent inside a JSON string: base64 or a data URL, decoded with the audio layer."""

import base64
import binascii

from voxgate.audio.decode import AudioDecodeError, AudioTooLongError, decode
from voxgate.audio.pcm import PcmAudio
from voxgate.errors import InvalidRequestError

RECOGNIZER_SAMPLE_RATE = 16_000
CHAT_SAMPLE_RATE = 24_000


def audio_bytes(value: str, *, param: str = "input") -> bytes:
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
    try:
        data = base64.b64decode(payload, validate=True)
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
    return data


def decode_input(
    data: bytes, *, sample_rate: int, max_seconds: float, param: str = "input"
) -> PcmAudio:
    try:
        return decode(data, sample_rate=sample_rate, max_seconds=max_seconds)
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
