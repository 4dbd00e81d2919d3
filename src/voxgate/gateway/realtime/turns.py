"""Server VAD's own responses, taken over by the relay so that each is held before it runs.

Upstream, a session never creates a response by itself: the relay switches `create_response`
off (at the start, and in every `session.update` the client sends) and, when a turn the
detector ended is committed, sends a held and capped `response.create` of its own, as the
client asked the provider to.
"""

from dataclasses import dataclass
from typing import Any

from voxgate.gateway.realtime.dialect import as_object

OFF = {"type": "server_vad", "create_response": False}


@dataclass
class VadTurns:
    # What the client asked for: turn detection on, and a response at the end of each turn.
    detecting: bool = True
    respond: bool = True
    # The detector ended speech, and its commit has not come yet.
    stopped: bool = False
    # The session.updated answers to the relay's own updates, not yet passed over.
    own_updates: int = 0
    # The client's session.updates the serving upstream has not answered yet.
    unanswered_updates: int = 0

    def opening(self, beta: bool) -> dict[str, Any]:
        """The session.update that switches the provider's own responses off."""
        self.own_updates += 1
        session: dict[str, Any] = {"turn_detection": dict(OFF)}
        if not beta:
            session = {"type": "realtime", "audio": {"input": session}}
        return {"type": "session.update", "session": session}

    def client_update(self, event: dict[str, Any], beta: bool) -> bool:
        """Note the turn detection a client's session.update asks for and switch its
        create_response off in the event; True when the event was changed."""
        session = as_object(event.get("session"))
        holder = session if beta else as_object(as_object(session.get("audio")).get("input"))
        if "turn_detection" not in holder:
            return False
        detection = holder["turn_detection"]
        self.detecting = isinstance(detection, dict)
        if not isinstance(detection, dict):
            return False
        self.respond = detection.get("create_response", True) is not False
        detection["create_response"] = False
        return True

    def shown(self, event: dict[str, Any], beta: bool) -> dict[str, Any] | None:
        """A session.updated as the client asked for it: with its own create_response (the
        provider's is the relay's); None when the event shows no turn detection."""
        session = as_object(event.get("session"))
        holder = session if beta else as_object(as_object(session.get("audio")).get("input"))
        detection = holder.get("turn_detection")
        if not isinstance(detection, dict) or "create_response" not in detection:
            return None
        detection["create_response"] = self.respond
        return event

    def passes(self, kind: object) -> bool:
        """Whether an upstream event reaches the client (not the answer to the relay's own
        update)."""
        if kind != "session.updated":
            return True
        if self.own_updates:
            self.own_updates -= 1
            return False
        self.unanswered_updates = max(0, self.unanswered_updates - 1)
        return True

    def moved(self) -> int:
        """The session moved to a new upstream: the lost one's answers never come. How many of
        the client's updates it left unanswered (the new one must answer them)."""
        owed, self.unanswered_updates, self.own_updates = self.unanswered_updates, 0, 0
        return owed

    def turn_ended(self, kind: object) -> bool:
        """Whether this upstream event commits a turn the detector ended, which the client
        wants answered."""
        if kind == "input_audio_buffer.speech_stopped":
            self.stopped = True
        elif kind == "input_audio_buffer.committed" and self.stopped:
            self.stopped = False
            return self.detecting and self.respond
        return False
