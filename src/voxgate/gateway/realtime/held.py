"""What a relayed session's responses hold: the gateway's own bound on the conversation a
response reads, and, per response, its worst case held, its output cap and the output that
has passed (what an upstream that dies mid-response is charged from).

The bounds never count fewer than the provider bills: a text is counted by its UTF-8 bytes
(no token is shorter than a byte), audio by its duration at the provider's token rate, and an
earlier answer by the output tokens its `response.done` reported.
"""

import math
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from voxgate.billing.pricing import Metered
from voxgate.gateway.realtime.dialect import as_object
from voxgate.gateway.realtime.wire import decoded_size as _decoded_size
from voxgate.types import MicroUSD

# OpenAI's realtime token rates: one input token per 100 ms heard, one output token per 50 ms
# spoken.
AUDIO_INPUT_TOKENS_PER_SECOND = 10
AUDIO_OUTPUT_TOKENS_PER_SECOND = 20
PCM16_BYTES_PER_SECOND = 48_000
G711_BYTES_PER_SECOND = 8_000
# The most output tokens a realtime response may produce, OpenAI's own ceiling.
MAX_RESPONSE_OUTPUT_TOKENS = 4096
_G711 = frozenset({"audio/pcmu", "audio/pcma", "g711_ulaw", "g711_alaw"})


@dataclass
class HeldResponse:
    """One response's hold: what it reads, its output cap and worst case, what has passed."""

    given: Metered
    output_cap: int
    worst: MicroUSD
    audio_bytes: int = 0
    text_bytes: int = 0
    # The response.create's own settings, for a response re-created on another route.
    asked: dict[str, Any] = field(default_factory=dict)

    def passed(self, output_bytes_per_second: int) -> Metered:
        """The response as far as it passed: its input, and output tokens from the audio and
        text that reached the client (never past its cap)."""
        audio = math.ceil(
            self.audio_bytes / output_bytes_per_second * AUDIO_OUTPUT_TOKENS_PER_SECOND
        )
        audio = min(audio, self.output_cap)
        text = min(self.text_bytes, self.output_cap - audio)
        return replace(self.given, output_audio_tokens=audio, output_text_tokens=text)


@dataclass
class ConversationBound:
    """An upper bound on the tokens a response reads: everything the session was given."""

    text_tokens: int = 0
    audio_tokens: int = 0
    input_bytes_per_second: int = PCM16_BYTES_PER_SECOND
    output_bytes_per_second: int = PCM16_BYTES_PER_SECOND
    # The output cap the session asked for (`max_output_tokens`), if any.
    session_cap: int = MAX_RESPONSE_OUTPUT_TOKENS

    def client_event(self, event: dict[str, Any], text: str) -> None:
        """Count what a client event adds to the conversation (or to the session's settings)."""
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            self._heard(_decoded_size(event.get("audio")))
        elif kind == "conversation.item.create":
            item = as_object(event.get("item"))
            audio = [as_object(part).get("audio") for part in item.get("content") or []]
            encoded = [part for part in audio if isinstance(part, str)]
            for part in encoded:
                self._heard(_decoded_size(part))
            # The rest of the event is text (base64 is ASCII: its length is its size).
            self.text_tokens += len(text.encode()) - sum(map(len, encoded))
        elif kind == "session.update":
            session = as_object(event.get("session"))
            self.text_tokens += len(text.encode())  # instructions and tools are read each time
            self._formats(session)
            self.session_cap = wanted_output(session, self.session_cap)

    def response_done(self, usage: Metered) -> None:
        """An answer joins the conversation: the next response reads what it produced."""
        self.text_tokens += usage.output_text_tokens
        self.audio_tokens += usage.output_audio_tokens

    def forget(self, dropped: Metered) -> None:
        """Items deleted from the conversation: later responses no longer read them."""
        self.text_tokens = max(0, self.text_tokens - dropped.input_text_tokens)
        self.audio_tokens = max(0, self.audio_tokens - dropped.input_audio_tokens)

    def given(self, response: dict[str, Any]) -> Metered:
        """What a response reads: the conversation and its own settings."""
        extra = len(orjson.dumps(response)) if response else 0
        return Metered(
            input_text_tokens=self.text_tokens + extra,
            input_audio_tokens=self.audio_tokens,
            requests=0,
        )

    def _heard(self, size: int) -> None:
        seconds = size / self.input_bytes_per_second
        self.audio_tokens += math.ceil(seconds * AUDIO_INPUT_TOKENS_PER_SECOND)

    def _formats(self, session: dict[str, Any]) -> None:
        audio = as_object(session.get("audio"))
        for side, beta in (("input", "input_audio_format"), ("output", "output_audio_format")):
            given = as_object(as_object(audio.get(side)).get("format")).get("type")
            named = given or session.get(beta)
            if named is None:
                continue
            rate = G711_BYTES_PER_SECOND if named in _G711 else PCM16_BYTES_PER_SECOND
            setattr(self, f"{side}_bytes_per_second", rate)


def wanted_output(holder: dict[str, Any], default: int) -> int:
    """The output cap a session or response asks for (either dialect's name), within
    OpenAI's ceiling; `inf` or nothing leaves `default`."""
    for name in ("max_output_tokens", "max_response_output_tokens"):
        value = holder.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return min(value, MAX_RESPONSE_OUTPUT_TOKENS)
    return default


def delta_size(event: dict[str, Any]) -> int:
    """The audio bytes of an output audio delta."""
    return _decoded_size(event.get("delta"))
