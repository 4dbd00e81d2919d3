"""The two names of the realtime protocol: GA, and the beta (`OpenAI-Beta: realtime=v1`) that
`client.beta.realtime` and older frameworks speak. Sessions work in GA terms; a beta client's
server events are renamed on the way out."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voxgate.providers.realtime import BETA_HEADER, BETA_VALUE

_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
# GA events the beta protocol has no counterpart for.
_BETA_ABSENT = frozenset({"conversation.item.done"})
_BETA_CONTENT_TYPES = {"output_audio": "audio", "output_text": "text"}


@dataclass(frozen=True)
class Dialect:
    name: str
    names: Mapping[str, str] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()

    @property
    def beta(self) -> bool:
        return self.name == "beta"

    def outgoing(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The event as this dialect names it, or None when the dialect has no such event."""
        kind = str(event.get("type"))
        if kind in self.absent:
            return None
        if not self.beta:
            return event
        renamed = event | {"type": self.names.get(kind, kind)}
        for key in ("item",):
            if isinstance(renamed.get(key), dict):
                renamed[key] = beta_item(renamed[key])
        response = renamed.get("response")
        if isinstance(response, dict):
            renamed["response"] = beta_response(response)
        return renamed


def beta_item(item: dict[str, Any]) -> dict[str, Any]:
    content = [
        part | {"type": _BETA_CONTENT_TYPES.get(str(part.get("type")), part.get("type"))}
        for part in item.get("content") or []
    ]
    return item | {"content": content}


def beta_response(response: dict[str, Any]) -> dict[str, Any]:
    shaped = {k: v for k, v in response.items() if k not in ("output_modalities", "audio")}
    if "output_modalities" in response:
        shaped["modalities"] = response["output_modalities"]
    shaped["output"] = [beta_item(item) for item in response.get("output") or []]
    return shaped


GA = Dialect("ga")
BETA = Dialect("beta", _BETA_NAMES, _BETA_ABSENT)


def dialect_of(headers: Mapping[str, str]) -> Dialect:
    """Beta when the client asks for `realtime=v1`, as `client.beta.realtime` does."""
    return BETA if BETA_VALUE in headers.get(BETA_HEADER, "").replace(" ", "") else GA


_BETA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}


def beta_session(session: dict[str, Any]) -> dict[str, Any]:
    """A GA session (as secrets are minted) in the beta `session.update` shape."""
    audio = as_object(session.get("audio"))
    given_input, given_output = as_object(audio.get("input")), as_object(audio.get("output"))
    moved = ("type", "model", "audio", "output_modalities")
    shaped = {key: value for key, value in session.items() if key not in moved}
    if "output_modalities" in session:
        shaped["modalities"] = session["output_modalities"]
    for key in ("voice", "speed"):
        if key in given_output:
            shaped[key] = given_output[key]
    if "turn_detection" in given_input:
        shaped["turn_detection"] = given_input["turn_detection"]
    for side, given in (("input", given_input), ("output", given_output)):
        fmt = given.get("format")
        if isinstance(fmt, dict) and fmt.get("type") in _BETA_FORMATS:
            shaped[f"{side}_audio_format"] = _BETA_FORMATS[fmt["type"]]
    return shaped


def as_object(value: object) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one (for reading what peers sent)."""
    return value if isinstance(value, dict) else {}
