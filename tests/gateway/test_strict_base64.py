"""Audio in base64 is decoded by binascii's strict mode, which must refuse exactly the strings
`base64.b64decode(..., validate=True)` refused (it skips that function's regex pass)."""

import base64
import binascii
import itertools

from voxgate.errors import InvalidRequestError
from voxgate.gateway.inputs import audio_bytes

# Valid characters, padding, whitespace and the URL-safe alphabet's two characters.
ALPHABET = "AB+/=\n -_"


def validated(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def accepted(value: str) -> bytes | None:
    try:
        return audio_bytes(value)
    except InvalidRequestError:
        return None


def test_every_short_string_is_refused_or_decoded_as_validate_true_did() -> None:
    for length in range(1, 6):
        for characters in itertools.product(ALPHABET, repeat=length):
            value = "".join(characters)
            expected = validated(value)
            if expected == b"":
                continue  # no audio at all: refused for that, whichever decoder
            assert accepted(value) == expected, value
