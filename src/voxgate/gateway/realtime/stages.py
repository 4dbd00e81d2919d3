"""Where a realtime turn's wait goes, read off the events the client's socket carries: the end
of speech, the final transcript, the first model token, the first audio byte; and how long the
session took to set up.

The clock is marked by the client's channel as events pass (so the local cascade, the relay
and a session moved between them are timed alike, and no event is parsed for it that was not
parsed already):

- end of speech: the server's `input_audio_buffer.speech_stopped`, or the client's own
  `input_audio_buffer.commit` (the latest before the response);
- final transcript: `conversation.item.input_audio_transcription.completed`;
- first model token: a response's first text or transcript delta;
- first audio byte: its first audio delta.

A response is timed from `response.created` to `response.done`; each stage runs from the
latest earlier mark of the chain (a relayed provider may send the transcript after the answer
has begun: the answer's stage then runs from the end of speech). `speech_to_audio` is the whole
wait the speaker hears.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STAGES = ("transcript", "first_token", "first_audio", "speech_to_audio")
SETUP_STEPS = ("session_created", "upstream_connected")
_SPEECH_ENDS = frozenset({"input_audio_buffer.speech_stopped"})
_TRANSCRIPTS = frozenset({"conversation.item.input_audio_transcription.completed"})
_TOKENS = frozenset(
    {
        "response.output_text.delta",
        "response.text.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    }
)
_AUDIO = frozenset({"response.output_audio.delta", "response.audio.delta"})
NANOSECONDS = 1_000_000_000


@dataclass
class Turn:
    """What the speaker did before a response: when they stopped, when they were heard."""

    speech_end: int | None = None
    transcript: int | None = None


@dataclass
class ResponseTimes:
    """One response's marks, in the clock's nanoseconds."""

    response_id: str
    turn: Turn
    created: int
    first_token: int | None = None
    first_audio: int | None = None
    done: int = 0
    usage: dict[str, Any] = field(default_factory=dict)

    def spans(self) -> list[tuple[str, int, int]]:
        """Each stage measured, as (stage, start, end)."""
        chain = [
            ("speech_end", self.turn.speech_end),
            ("transcript", self.turn.transcript),
            ("first_token", self.first_token),
            ("first_audio", self.first_audio),
        ]
        measured = []
        for index, (stage, end) in enumerate(chain[1:], start=1):
            if end is None:
                continue
            earlier = [at for _, at in chain[:index] if at is not None and at <= end]
            if earlier:
                measured.append((stage, max(earlier), end))
        speech_end, first_audio = self.turn.speech_end, self.first_audio
        if speech_end is not None and first_audio is not None and speech_end <= first_audio:
            measured.append(("speech_to_audio", speech_end, first_audio))
        return measured

    def stages(self) -> dict[str, float]:
        """Each stage measured, in seconds."""
        return {stage: (end - start) / NANOSECONDS for stage, start, end in self.spans()}

    @property
    def started(self) -> int:
        """When the response's wait began: the end of speech it answers, or its creation."""
        speech_end = self.turn.speech_end
        return speech_end if speech_end is not None and speech_end <= self.created else self.created


ResponseWatcher = Callable[[ResponseTimes], None]
SetupWatcher = Callable[[str, float], None]


class StageClock:
    """Marked by a session's channel; tells its watchers of each response once it is done and
    of each set-up step once it is taken."""

    def __init__(self, now: Callable[[], int] = time.perf_counter_ns) -> None:
        self._now = now
        # The socket's handshake began when the clock was made.
        self.opened = now()
        # The clock's nanoseconds to Unix time (for spans).
        self.epoch_offset = time.time_ns() - now()
        self.setup: dict[str, float] = {}
        # Each stage's seconds over the session's responses, for its access line.
        self._measured: dict[str, list[float]] = {}
        self._turn = Turn()
        self._open: dict[str, ResponseTimes] = {}
        self._on_response: list[ResponseWatcher] = []
        self._on_setup: list[SetupWatcher] = []

    def watch(self, on_response: ResponseWatcher, on_setup: SetupWatcher) -> None:
        self._on_response.append(on_response)
        self._on_setup.append(on_setup)
        for step, seconds in self.setup.items():
            on_setup(step, seconds)

    def upstream_connected(self) -> None:
        """The relay's upstream socket is open (only the session's first counts)."""
        self._set_up("upstream_connected")

    def received(self, event: dict[str, Any]) -> None:
        """A client event: a commit ends the speaker's turn."""
        if event.get("type") == "input_audio_buffer.commit":
            self._turn.speech_end = self._now()

    def sent(self, event: dict[str, Any]) -> None:
        """A server event, as it goes to the client."""
        kind = event.get("type")
        if kind in _AUDIO:
            response = self._open.get(str(event.get("response_id")))
            if response is not None and response.first_audio is None:
                response.first_audio = self._now()
        elif kind in _TOKENS:
            response = self._open.get(str(event.get("response_id")))
            if response is not None and response.first_token is None:
                response.first_token = self._now()
        elif kind in _SPEECH_ENDS:
            self._turn.speech_end = self._now()
        elif kind in _TRANSCRIPTS:
            self._heard()
        elif kind == "response.created":
            self._created(_response_id(event))
        elif kind == "response.done":
            self._done(_response_id(event), event)
        elif kind == "session.created":
            self._set_up("session_created")

    def p50(self) -> dict[str, float]:
        """The median of each stage over the session's responses, in seconds."""
        return {stage: statistics.median(values) for stage, values in self._measured.items()}

    def unix_nanos(self, at: int) -> int:
        return at + self.epoch_offset

    def _heard(self) -> None:
        """The transcript belongs to the latest turn that ended in speech and lacks one, which
        a response may already have taken."""
        turns = [self._turn, *(r.turn for r in reversed(self._open.values()))]
        unheard = next(
            (t for t in turns if t.speech_end is not None and t.transcript is None), None
        )
        if unheard is not None:
            unheard.transcript = self._now()

    def _created(self, response_id: str) -> None:
        self._open[response_id] = ResponseTimes(response_id, self._turn, self._now())
        self._turn = Turn()

    def _done(self, response_id: str, event: dict[str, Any]) -> None:
        response = self._open.pop(response_id, None)
        if response is None:
            return
        response.done = self._now()
        body = event.get("response")
        usage = body.get("usage") if isinstance(body, dict) else None
        response.usage = usage if isinstance(usage, dict) else {}
        for stage, seconds in response.stages().items():
            self._measured.setdefault(stage, []).append(seconds)
        for watcher in self._on_response:
            watcher(response)

    def _set_up(self, step: str) -> None:
        if step in self.setup:
            return
        seconds = (self._now() - self.opened) / NANOSECONDS
        self.setup[step] = seconds
        for watcher in self._on_setup:
            watcher(step, seconds)


def _response_id(event: dict[str, Any]) -> str:
    response = event.get("response")
    return str(response.get("id")) if isinstance(response, dict) else ""
