"""The conversation of a Gemini Live session told as OpenAI realtime events, and the client's
events told to Gemini (`gemini.live` does the socket work; this is only the translation).

Client to Gemini:
- `input_audio_buffer.append`: 24 kHz PCM16 resampled to 16 kHz `realtimeInput.audio`, as it
  comes with Gemini's detector; with manual turns it waits in the buffer for its commit.
- `input_audio_buffer.commit`: with manual turns, the user item is committed and its audio sent
  after an `activityStart`, the turn's `activityEnd` waiting for `response.create`; with
  Gemini's detector, `audioStreamEnd`.
- `conversation.item.create`: a message as `clientContent` turns (assistant as `model`); a
  `function_call_output` as a `toolResponse`.
- `response.create`: claims the answer Gemini already started for a detected turn, or asks for
  one (`activityEnd`, or `clientContent` with `turnComplete`); after a tool response Gemini
  goes on by itself.
- `response.cancel`, `conversation.item.truncate|delete|retrieve`, `input_audio_buffer.clear`,
  `output_audio_buffer.clear`: answered here with OpenAI's events; Gemini has no counterpart,
  so a cancelled answer's rest is dropped (and billed as Gemini reports it), and its context
  keeps a truncated or deleted item.

Gemini to client: `inputTranscription` as the user item's transcription deltas and its
`completed` event; `modelTurn` audio (24 kHz) and text and `outputTranscription` as the
response's deltas, around `response.created` and `response.done`; `toolCall` as function call
items; `interrupted` closes the response as cancelled; `turnComplete` closes it as completed,
with the turn's `usageMetadata` as OpenAI's token usage by modality. An answer that reaches
the `max_output_tokens` of its `response.create` is cut there (`live_cap`), Gemini is told to
stop, and it closes as OpenAI's does: `incomplete`, for `max_output_tokens`.
"""

import base64
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.providers.gemini.live_cap import output_cap
from voxgate.providers.gemini.live_parts import (
    CLIENT_RATE,
    LiveResponse,
    UserTurn,
    as_object,
    audio_input,
    new_id,
    parsed,
)
from voxgate.providers.gemini.live_usage import forwarded_usage, openai_usage
from voxgate.providers.protocols import PROVIDER_USAGE

# What stops Gemini's answer: a `clientContent` message interrupts the generation under way
# (Gemini's documented behaviour; the simulator does the same), and an empty one, as
# google-genai's bare `send_client_content()` sends, adds nothing to the conversation nor asks
# for an answer. (activityStart would be refused with Gemini's own detector on, and a new
# connection resumed by handle would cost a setup and lose the audio not yet answered.)
INTERRUPTION: dict[str, Any] = {"clientContent": {"turnComplete": False}}
# OpenAI's bound on a realtime input audio buffer.
MAX_BUFFERED_BYTES = 15 * 2**20
_RATE = re.compile(r"rate=(\d+)")


@dataclass
class LiveTranslation:
    manual: bool = False
    audio_out: bool = True
    # The events for the client, in order, as OpenAI names them (GA).
    out: list[dict[str, Any]] = field(default_factory=list)
    # Messages for Gemini that its own messages call for (the interruption of a capped answer).
    upstream: list[dict[str, Any]] = field(default_factory=list)
    _user: UserTurn | None = None
    # The committed user turn being answered (its transcript may still be coming).
    _answered_user: UserTurn | None = None
    _response: LiveResponse | None = None
    _activity: bool = False
    # Manual turns: the client's 24 kHz audio since the last commit.
    _buffered: bytearray = field(default_factory=bytearray)
    # A tool response was sent: Gemini answers it by itself, and what it answers waits here
    # for the client's response.create (as OpenAI waits for it).
    _continuing: bool = False
    _continued: list[dict[str, Any]] = field(default_factory=list)
    _calls: dict[str, str] = field(default_factory=dict)
    _items: dict[str, dict[str, Any]] = field(default_factory=dict)
    _last_item: str | None = None

    @property
    def answering(self) -> bool:
        return self._response is not None

    # The client's side.

    def client_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """What Gemini is sent for one client event (the client's own answers go to `out`)."""
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            return self._append(str(event.get("audio") or ""))
        if kind == "input_audio_buffer.commit":
            return self._commit()
        if kind == "input_audio_buffer.clear":
            self._buffered.clear()
            self._emit("input_audio_buffer.cleared")
            return []
        if kind == "conversation.item.create":
            return self._item(as_object(event.get("item")), event.get("previous_item_id"))
        if kind == "response.create":
            return self._create(event)
        if kind == "response.cancel":
            if self._response is not None:
                self._response.cancelled = True
            return []
        if kind == "conversation.item.truncate":
            kept = {k: event.get(k) for k in ("item_id", "content_index", "audio_end_ms")}
            self._emit("conversation.item.truncated", **kept)
        elif kind == "conversation.item.delete":
            self._items.pop(str(event.get("item_id")), None)
            self._emit("conversation.item.deleted", item_id=event.get("item_id"))
        elif kind == "conversation.item.retrieve":
            self._retrieve(event)
        elif kind == "output_audio_buffer.clear":
            self._emit("output_audio_buffer.cleared", response_id=self._response_id())
        else:
            self._refuse(event, f"The event '{kind}' is not served on a Gemini Live route.")
        return []

    def _append(self, audio: str) -> list[dict[str, Any]]:
        """With Gemini's detector, audio goes as it comes; with manual turns it waits in the
        input buffer for its commit, as OpenAI's does (Gemini would take audio after an
        `activityStart` as the user speaking over the answer)."""
        pcm = base64.b64decode(audio)
        if self._user is None or self._user.committed:
            self._user = UserTurn(new_id("item"))
        if not self.manual:
            return [audio_input(pcm)]
        if len(self._buffered) + len(pcm) > MAX_BUFFERED_BYTES:
            message = f"The input audio buffer holds at most {MAX_BUFFERED_BYTES} bytes."
            self._refuse({"type": "input_audio_buffer.append"}, message)
            return []
        self._buffered.extend(pcm)
        return []

    def _commit(self) -> list[dict[str, Any]]:
        if self._user is None or self._user.committed:
            self._refuse(
                {"type": "input_audio_buffer.commit"},
                "Error committing input audio buffer: the buffer is empty.",
                code="input_audio_buffer_commit_empty",
            )
            return []
        if not self.manual:
            return [{"realtimeInput": {"audioStreamEnd": True}}]
        self._committed(self._user)
        pcm, self._buffered = bytes(self._buffered), bytearray()
        self._activity = True  # ended by the response.create that asks for the answer
        return [{"realtimeInput": {"activityStart": {}}}, audio_input(pcm)]

    def _committed(self, user: UserTurn) -> None:
        user.committed = True
        self._answered_user = user
        previous = self._last_item
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=user.item_id)
        item = {
            "id": user.item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        self._added(item, previous)

    def _item(self, item: dict[str, Any], previous: object) -> list[dict[str, Any]]:
        item = item | {"id": item.get("id") or new_id("item"), "status": "completed"}
        self._added(item, previous if isinstance(previous, str) else self._last_item)
        if item.get("type") == "function_call_output":
            call_id = str(item.get("call_id"))
            self._continuing = True
            response = {"output": parsed(item.get("output"))}
            answer = {"id": call_id, "name": self._calls.get(call_id, ""), "response": response}
            return [{"toolResponse": {"functionResponses": [answer]}}]
        text = " ".join(
            str(part.get("text") or part.get("transcript") or "")
            for part in item.get("content") or []
            if isinstance(part, dict)
        ).strip()
        if item.get("type", "message") != "message" or not text:
            return []
        role = "model" if item.get("role") == "assistant" else "user"
        turn = {"role": role, "parts": [{"text": text}]}
        return [{"clientContent": {"turns": [turn], "turnComplete": False}}]

    def _create(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        response = self._response
        cap = output_cap(as_object(event.get("response")))
        if response is not None and not response.claimed:
            response.claimed = True  # the answer Gemini started for the turn it heard end
            response.cap.tokens = cap
            self._stop_at_cap(response)
            return []
        if response is not None:
            self._refuse(
                event,
                f"Conversation already has an active response in progress: {response.id}.",
                code="conversation_already_has_active_response",
            )
            return []
        continuing, continued = self._continuing, self._continued
        self._continued = []
        self._start(claimed=True)
        assert self._response is not None
        self._response.cap.tokens = cap
        if continuing:
            for message in continued:
                self.server_message(message)
            return []
        if self._activity:
            self._activity = False
            return [{"realtimeInput": {"activityEnd": {}}}]
        return [{"clientContent": {"turnComplete": True}}]

    def _retrieve(self, event: dict[str, Any]) -> None:
        item = self._items.get(str(event.get("item_id")))
        if item is None:
            message = f"Item with item_id '{event.get('item_id')}' not found."
            self._refuse(event, message, code="item_not_found")
        else:
            self._emit("conversation.item.retrieved", item=item)

    # Gemini's side.

    def server_message(self, message: dict[str, Any]) -> None:
        """The client's events for one Gemini message."""
        if self._continuing and self._response is None:
            self._continued.append(message)
            return
        usage = as_object(message.get("usageMetadata"))
        if usage and self._response is not None:
            self._response.usage = usage
            if self._response.called:
                self._finish("completed")
        for call in as_object(message.get("toolCall")).get("functionCalls") or []:
            self._function_call(as_object(call))
        content = as_object(message.get("serverContent"))
        heard = as_object(content.get("inputTranscription")).get("text")
        if isinstance(heard, str) and heard:
            self._heard(heard)
        for part in as_object(content.get("modelTurn")).get("parts") or []:
            self._model_part(as_object(part))
        said = as_object(content.get("outputTranscription")).get("text")
        if isinstance(said, str) and said:
            self._said(said)
        if content.get("interrupted"):
            self._finish("cancelled", reason="turn_detected")
        if content.get("turnComplete"):
            self._finish("completed")

    def _heard(self, text: str) -> None:
        user = self._answered_user if self._response is not None else None
        if user is None:
            if self._user is None or self._user.committed:
                self._user = UserTurn(new_id("item"))
            user = self._user
        if not self.manual and not user.speaking and not user.committed:
            user.speaking = True
            self._emit("input_audio_buffer.speech_started", audio_start_ms=0, item_id=user.item_id)
        user.transcript.append(text)
        delta = {"item_id": user.item_id, "content_index": 0, "delta": text}
        self._emit("conversation.item.input_audio_transcription.delta", **delta)

    def _answer(self) -> LiveResponse:
        """The response the model's output belongs to: one started by Gemini itself for a
        turn its detector ended when none is under way."""
        if self._response is None:
            user = self._user
            if user is not None and not user.committed:
                if not user.speaking:
                    self._emit(
                        "input_audio_buffer.speech_started", audio_start_ms=0, item_id=user.item_id
                    )
                self._emit(
                    "input_audio_buffer.speech_stopped", audio_end_ms=0, item_id=user.item_id
                )
                self._committed(user)
            self._start(claimed=False)
        assert self._response is not None
        return self._response

    def _start(self, *, claimed: bool) -> None:
        self._continuing = False
        self._response = LiveResponse(new_id("resp"), claimed)
        self._emit("response.created", response=self._view(self._response, "in_progress"))

    def _model_part(self, part: dict[str, Any]) -> None:
        inline = as_object(part.get("inlineData"))
        if inline.get("data"):
            response = self._answer()
            message = self._message(response)
            if response.cancelled or response.cap.reached:
                response.cap.spilled = response.cap.reached
                return
            pcm = base64.b64decode(str(inline["data"]))
            rate = _RATE.search(str(inline.get("mimeType")))
            if rate and int(rate.group(1)) != CLIENT_RATE:
                pcm = resample(PcmAudio(pcm, int(rate.group(1))), CLIENT_RATE).samples
            pcm = response.cap.audio(pcm)
            if pcm:
                delta = base64.b64encode(pcm).decode()
                at = self._at(response, message)
                self._emit("response.output_audio.delta", **at, delta=delta)
            self._stop_at_cap(response)
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            response = self._answer()
            message = self._message(response)
            if response.cap.reached:
                return
            text = response.cap.text(part["text"])
            response.said.append(text)
            if not response.cancelled and text:
                at = self._at(response, message)
                self._emit("response.output_text.delta", **at, delta=text)
            self._stop_at_cap(response)

    def _said(self, text: str) -> None:
        response = self._answer()
        message = self._message(response)
        if response.cap.spilled:
            return  # the transcript of audio not forwarded
        response.said.append(text)
        if not response.cancelled:
            at = self._at(response, message)
            self._emit("response.output_audio_transcript.delta", **at, delta=text)

    def _message(self, response: LiveResponse) -> dict[str, Any]:
        """The response's assistant message item, added when its first output comes."""
        if response.message is None:
            part_type = "output_audio" if self.audio_out else "output_text"
            item = {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            response.message = item
            response.output.append(item)
            index = len(response.output) - 1
            self._emit(
                "response.output_item.added", response_id=response.id, output_index=index, item=item
            )
            self._added(item, self._last_item, done=False)
            part = (
                {"type": part_type, "transcript": ""}
                if self.audio_out
                else {"type": part_type, "text": ""}
            )
            self._emit("response.content_part.added", **self._at(response, item), part=part)
        return response.message

    def _function_call(self, call: dict[str, Any]) -> None:
        response = self._answer()
        call_id = str(call.get("id") or new_id("call"))
        name = str(call.get("name") or "")
        self._calls[call_id] = name
        arguments = orjson.dumps(call.get("args") or {}).decode()
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "completed",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
        response.output.append(item)
        index = len(response.output) - 1
        self._emit(
            "response.output_item.added", response_id=response.id, output_index=index, item=item
        )
        self._added(item, self._last_item, done=False)
        self._emit(
            "response.function_call_arguments.done",
            response_id=response.id,
            item_id=item["id"],
            output_index=index,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )
        self._emit(
            "response.output_item.done", response_id=response.id, output_index=index, item=item
        )
        self._emit("conversation.item.done", item=item)
        response.called = True

    def _finish(self, status: str, reason: str | None = None) -> None:
        """Close the turn: the user's transcript, then the response with its usage."""
        user, self._answered_user = self._answered_user, None
        if user is not None and user.transcript:
            transcript = "".join(user.transcript).strip()
            user.transcript = []
            item = self._items.get(user.item_id)
            if item is not None:
                item["content"] = [{"type": "input_audio", "transcript": transcript}]
            completed = {"item_id": user.item_id, "content_index": 0, "transcript": transcript}
            self._emit("conversation.item.input_audio_transcription.completed", **completed)
        response, self._response = self._response, None
        if response is None:
            return
        if response.cancelled:
            status, reason = "cancelled", reason or "client_cancelled"
        elif response.cap.reached:
            status, reason = "incomplete", "max_output_tokens"
        message = response.message
        if message is not None:
            said = "".join(response.said)
            at = self._at(response, message)
            part: dict[str, Any]
            if self.audio_out:
                self._emit("response.output_audio.done", **at)
                self._emit("response.output_audio_transcript.done", **at, transcript=said)
                part = {"type": "output_audio", "transcript": said}
            else:
                self._emit("response.output_text.done", **at, text=said)
                part = {"type": "output_text", "text": said}
            self._emit("response.content_part.done", **at, part=part)
            message.update(status="completed" if status == "completed" else "incomplete")
            message["content"] = [part]
            index = at["output_index"]
            self._emit(
                "response.output_item.done",
                response_id=response.id,
                output_index=index,
                item=message,
            )
            self._emit("conversation.item.done", item=message)
        view = self._view(response, status, reason)
        if status == "incomplete":
            self._done_at_cap(response, view)
        else:
            self._emit("response.done", response=view)

    def _stop_at_cap(self, response: LiveResponse) -> None:
        """Once an answer reaches its cap, Gemini is told to stop making it; its response
        closes when Gemini says it stopped (with the usage that bills its input)."""
        if response.cap.reached and not response.cancelled and INTERRUPTION not in self.upstream:
            self.upstream.append(INTERRUPTION)

    def _done_at_cap(self, response: LiveResponse, view: dict[str, Any]) -> None:
        """The response.done of an answer stopped at its cap: its usage is what was forwarded,
        and Gemini's own, when more, rides along as the provider's overrun."""
        reported = view["usage"]
        cap = response.cap
        usage = forwarded_usage(reported, cap.forwarded_audio_tokens, cap.forwarded_text_tokens)
        extra = {PROVIDER_USAGE: reported} if reported != usage else {}
        self._emit("response.done", response=view | {"usage": usage}, **extra)

    # Shared.

    def _view(
        self, response: LiveResponse, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        details = None if reason is None else {"type": status, "reason": reason}
        return {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": list(response.output),
            "output_modalities": ["audio"] if self.audio_out else ["text"],
            "usage": openai_usage(response.usage, self.audio_out)
            if status != "in_progress"
            else None,
        }

    def _at(self, response: LiveResponse, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": item["id"],
            "output_index": response.output.index(item),
            "content_index": 0,
        }

    def _added(self, item: dict[str, Any], previous: str | None, *, done: bool = True) -> None:
        self._items[item["id"]] = item
        self._last_item = item["id"]
        self._emit("conversation.item.added", previous_item_id=previous, item=item)
        if done:
            self._emit("conversation.item.done", previous_item_id=previous, item=item)

    def _response_id(self) -> str | None:
        return self._response.id if self._response is not None else None

    def _refuse(self, event: dict[str, Any], message: str, *, code: str = "unsupported") -> None:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": None,
            "event_id": event.get("event_id"),
        }
        self._emit("error", error=error)

    def _emit(self, kind: str, **fields: Any) -> None:
        self.out.append({"type": kind, "event_id": new_id("event"), **fields})
