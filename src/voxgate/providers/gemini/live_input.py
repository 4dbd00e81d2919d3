"""The user's audio on its way to Gemini Live, and the turns it makes.

Gemini's own activity detection is always off (`live_setup`): Gemini answers only once a turn's
`activityEnd` comes, and that is sent only by the `response.create` that asks for the answer,
which the relay holds and caps first. So no answer starts unheld.

- Manual turns (`turn_detection: null`): appended audio waits in the input buffer, as in
  OpenAI's; a commit sends it after an `activityStart`.
- Server VAD: the gateway's own detector (`voxgate.audio.vad`, run by the socket) finds where
  the user's speech starts and stops. At its start the activity opens (`activityStart`, which
  also interrupts an answer being spoken: barge-in) with the speech's lead-in, and the audio
  streams on; at its stop the turn is committed (`speech_stopped`, `committed`), and the
  activity stays open for the `response.create` to end. Audio outside speech stays here, the
  newest within the buffer's bound. A client's own commit ends the turn as the detector would.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voxgate.audio.vad import SpeechEdge
from voxgate.providers.gemini.live_parts import (
    CLIENT_RATE,
    ClientView,
    UserTurn,
    audio_input,
    new_id,
)
from voxgate.providers.gemini.live_setup import DEFAULT_PADDING_MS

ACTIVITY_START: dict[str, Any] = {"realtimeInput": {"activityStart": {}}}
ACTIVITY_END: dict[str, Any] = {"realtimeInput": {"activityEnd": {}}}
# OpenAI's bound on a realtime input audio buffer.
MAX_BUFFERED_BYTES = 15 * 2**20
BYTES_PER_MS = CLIENT_RATE * 2 // 1000


@dataclass
class LiveInput:
    client: ClientView
    manual: bool = False
    # Server VAD: how much audio before the detected start goes with the speech.
    padding_ms: int = DEFAULT_PADDING_MS
    # The committed user turn being answered (its transcript may still be coming).
    answered: UserTurn | None = None
    _user: UserTurn | None = None
    # The client's 24 kHz audio not sent: since the last commit (manual turns), or outside
    # speech (server VAD).
    _buffered: bytearray = field(default_factory=bytearray)
    # An activityStart was sent and its activityEnd was not.
    _activity: bool = False
    # Server VAD: the user is speaking, and the audio streams into the activity.
    _speaking: bool = False

    def append(self, pcm: bytes, edges: Sequence[SpeechEdge]) -> list[dict[str, Any]]:
        """What Gemini is sent for appended audio, given where the detector heard the speech
        start and stop in it."""
        self._speaker()
        if self.manual:
            if len(self._buffered) + len(pcm) > MAX_BUFFERED_BYTES:
                message = f"The input audio buffer holds at most {MAX_BUFFERED_BYTES} bytes."
                self.client.refuse({"type": "input_audio_buffer.append"}, message)
                return []
            self._buffered.extend(pcm)
            return []
        sent = [audio_input(pcm)] if self._speaking else []
        if not self._speaking:
            self._buffered.extend(pcm)
            del self._buffered[: max(0, len(self._buffered) - MAX_BUFFERED_BYTES)]
        for edge in edges:
            if edge.kind == "started":
                sent.extend(self._speech_started(edge.at_ms, lead_in=len(pcm)))
            else:
                self._speech_stopped(edge.at_ms)
        return sent

    def commit(self) -> list[dict[str, Any]]:
        """A client's commit: the turn ends (its activity waits for the response.create)."""
        user = self._user
        if user is None or user.committed:
            self.client.refuse(
                {"type": "input_audio_buffer.commit"},
                "Error committing input audio buffer: the buffer is empty.",
                code="input_audio_buffer_commit_empty",
            )
            return []
        sent = [] if self._activity else [ACTIVITY_START]
        self._activity = True
        if self._buffered:
            sent.append(audio_input(bytes(self._buffered)))
            self._buffered.clear()
        if self.manual:
            self._committed(user)
            return sent
        if not user.speaking:
            self._speech_started_event(user, 0)
        self._speaking = True
        self._speech_stopped(0)
        return sent

    def clear(self) -> None:
        """The buffer is emptied; speech already streamed stays in the open activity."""
        self._buffered.clear()
        self._speaking = False
        self.client.emit("input_audio_buffer.cleared")

    def ask(self) -> list[dict[str, Any]]:
        """What asks Gemini to answer the user's turn: the activity's end; none when no
        activity is open. Speech under way is committed where it stands."""
        if self._speaking and self._user is not None:
            self._speaking = False
            self._committed(self._user)
        if not self._activity:
            return []
        self._activity = False
        return [ACTIVITY_END]

    def hearing(self) -> UserTurn:
        """The user turn Gemini's transcript of the input belongs to."""
        return self.answered if self.answered is not None else self._speaker()

    def _speaker(self) -> UserTurn:
        """The user turn not yet committed, which the client's audio goes to."""
        if self._user is None or self._user.committed:
            self._user = UserTurn(new_id("item"))
        return self._user

    def _speech_started(self, at_ms: int, lead_in: int) -> list[dict[str, Any]]:
        """The activity opens (or the open one goes on) with the speech's lead-in: the padding
        and the chunk the speech began in."""
        self._speech_started_event(self._speaker(), at_ms)
        sent = [] if self._activity else [ACTIVITY_START]
        self._activity = self._speaking = True
        kept = (self.padding_ms * BYTES_PER_MS + lead_in) // 2 * 2
        if self._buffered:
            sent.append(audio_input(bytes(self._buffered[-kept:])))
            self._buffered.clear()
        return sent

    def _speech_started_event(self, user: UserTurn, at_ms: int) -> None:
        user.speaking = True
        self.client.emit(
            "input_audio_buffer.speech_started", audio_start_ms=at_ms, item_id=user.item_id
        )

    def _speech_stopped(self, at_ms: int) -> None:
        if not self._speaking or self._user is None:
            return  # speech the client's commit or response.create already ended
        self._speaking = False
        self.client.emit(
            "input_audio_buffer.speech_stopped", audio_end_ms=at_ms, item_id=self._user.item_id
        )
        self._committed(self._user)

    def _committed(self, user: UserTurn) -> None:
        user.committed = True
        self.answered = user
        previous = self.client.last_item
        self.client.emit(
            "input_audio_buffer.committed", previous_item_id=previous, item_id=user.item_id
        )
        item = {
            "id": user.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self.client.added(item, previous)
