"""The conversation of a Gemini Live session told as OpenAI realtime events, and the client's
events told to Gemini (`gemini.live` does the socket work; this is only the translation; the
user's audio and turns are `live_input`'s).

Client to Gemini:
- `input_audio_buffer.append|commit|clear`: the user's audio and turns (`live_input`): with
  manual turns a commit sends the buffer after an `activityStart`; with server VAD the
  gateway's own detector opens the activity when speech starts and commits the turn when it
  stops. Either way the turn's `activityEnd` waits for `response.create`.
- `conversation.item.create`: a message as `clientContent` turns (assistant as `model`); a
  `function_call_output` waits for the `response.create` that sends it as a `toolResponse`
  (Gemini answers a tool response at once).
- `response.create`: starts the response, capped to its `max_output_tokens`, then asks Gemini
  for it (the `toolResponse`, the turn's `activityEnd`, or `clientContent` with
  `turnComplete`); Gemini answers nothing else.
- `response.cancel`, `conversation.item.truncate|delete|retrieve`, `output_audio_buffer.clear`:
  answered here with OpenAI's events; Gemini has no counterpart, so a cancelled answer's rest
  is dropped (and billed as Gemini reports it), and its context keeps a truncated or deleted
  item.

Gemini to client: `inputTranscription` as the user item's transcription deltas and its
`completed` event; `modelTurn` audio (24 kHz) and text and `outputTranscription` as the
response's deltas, up to `response.done`; `toolCall` as function call items; `interrupted`
(the user spoke over the answer) closes the response as cancelled; `turnComplete` closes it as
completed, with the turn's `usageMetadata` as OpenAI's token usage by modality. An answer that
reaches the `max_output_tokens` of its `response.create` is cut there (`live_cap`), Gemini is
told to stop, and it closes as OpenAI's does: `incomplete`, for `max_output_tokens`.
"""

import base64
import re
from collections.abc import Sequence
from typing import Any

import orjson

from voxgate.audio.pcm import PcmAudio
from voxgate.audio.resample import resample
from voxgate.audio.vad import SpeechEdge
from voxgate.providers.gemini.live_cap import output_cap
from voxgate.providers.gemini.live_input import LiveInput
from voxgate.providers.gemini.live_parts import (
    CLIENT_RATE,
    ClientView,
    LiveResponse,
    as_object,
    new_id,
    parsed,
)
from voxgate.providers.gemini.live_usage import forwarded_usage, openai_usage
from voxgate.providers.protocols import PROVIDER_USAGE

# What stops Gemini's answer: a `clientContent` message interrupts the generation under way
# (Gemini's documented behaviour; the simulator does the same), and an empty one, as
# google-genai's bare `send_client_content()` sends, adds nothing to the conversation nor asks
# for an answer. (An activityStart would open a user turn that has none, and a new connection
# resumed by handle would cost a setup and lose the audio not yet answered.)
INTERRUPTION: dict[str, Any] = {"clientContent": {"turnComplete": False}}
_RATE = re.compile(r"rate=(\d+)")


class LiveTranslation:
    def __init__(self, *, manual: bool = False, audio_out: bool = True) -> None:
        self.client = ClientView()
        self.input = LiveInput(self.client, manual=manual)
        self.audio_out = audio_out
        # Messages for Gemini that its own messages call for (the interruption of a capped
        # answer).
        self.upstream: list[dict[str, Any]] = []
        self._response: LiveResponse | None = None
        # The client's function outputs, sent as one toolResponse by the response.create that
        # asks for their answer (Gemini answers a tool response at once, unasked).
        self._tool_answers: list[dict[str, Any]] = []
        self._calls: dict[str, str] = {}

    @property
    def out(self) -> list[dict[str, Any]]:
        """The events for the client, in order, as OpenAI names them (GA)."""
        return self.client.out

    @property
    def answering(self) -> bool:
        return self._response is not None

    # The client's side.

    def client_event(
        self, event: dict[str, Any], edges: Sequence[SpeechEdge] = ()
    ) -> list[dict[str, Any]]:
        """What Gemini is sent for one client event (the client's own answers go to `out`);
        `edges` are where the detector heard speech start and stop in appended audio."""
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            return self.input.append(base64.b64decode(str(event.get("audio") or "")), edges)
        if kind == "input_audio_buffer.commit":
            return self.input.commit()
        if kind == "input_audio_buffer.clear":
            self.input.clear()
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
            self.client.emit("conversation.item.truncated", **kept)
        elif kind == "conversation.item.delete":
            self.client.items.pop(str(event.get("item_id")), None)
            self.client.emit("conversation.item.deleted", item_id=event.get("item_id"))
        elif kind == "conversation.item.retrieve":
            self._retrieve(event)
        elif kind == "output_audio_buffer.clear":
            self.client.emit("output_audio_buffer.cleared", response_id=self._response_id())
        else:
            message = f"The event '{kind}' is not served on a Gemini Live route."
            self.client.refuse(event, message)
        return []

    def _item(self, item: dict[str, Any], previous: object) -> list[dict[str, Any]]:
        item = item | {"id": item.get("id") or new_id("item"), "status": "completed"}
        self.client.added(item, previous if isinstance(previous, str) else self.client.last_item)
        if item.get("type") == "function_call_output":
            call_id = str(item.get("call_id"))
            response = {"output": parsed(item.get("output"))}
            answer = {"id": call_id, "name": self._calls.get(call_id, ""), "response": response}
            self._tool_answers.append(answer)
            return []
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
        """The response starts here, capped, before Gemini is asked for it: the function
        outputs' toolResponse, the user turn's activityEnd, or a `clientContent` turnComplete."""
        if self._response is not None:
            self.client.refuse(
                event,
                f"Conversation already has an active response in progress: {self._response.id}.",
                code="conversation_already_has_active_response",
            )
            return []
        self._response = LiveResponse(new_id("resp"))
        self._response.cap.tokens = output_cap(as_object(event.get("response")))
        self.client.emit("response.created", response=self._view(self._response, "in_progress"))
        asked = self.input.ask()
        if self._tool_answers:
            answers, self._tool_answers = self._tool_answers, []
            asked.insert(0, {"toolResponse": {"functionResponses": answers}})
        return asked or [{"clientContent": {"turnComplete": True}}]

    def _retrieve(self, event: dict[str, Any]) -> None:
        item = self.client.items.get(str(event.get("item_id")))
        if item is None:
            message = f"Item with item_id '{event.get('item_id')}' not found."
            self.client.refuse(event, message, code="item_not_found")
        else:
            self.client.emit("conversation.item.retrieved", item=item)

    # Gemini's side.

    def server_message(self, message: dict[str, Any]) -> None:
        """The client's events for one Gemini message."""
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
        user = self.input.hearing()
        user.transcript.append(text)
        delta = {"item_id": user.item_id, "content_index": 0, "delta": text}
        self.client.emit("conversation.item.input_audio_transcription.delta", **delta)

    def _model_part(self, part: dict[str, Any]) -> None:
        response = self._response
        if response is None:
            return  # output no response.create asked for (none ever should) is not forwarded
        inline = as_object(part.get("inlineData"))
        if inline.get("data"):
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
                self.client.emit("response.output_audio.delta", **at, delta=delta)
            self._stop_at_cap(response)
        elif isinstance(part.get("text"), str) and not part.get("thought"):
            message = self._message(response)
            if response.cap.reached:
                return
            text = response.cap.text(part["text"])
            response.said.append(text)
            if not response.cancelled and text:
                at = self._at(response, message)
                self.client.emit("response.output_text.delta", **at, delta=text)
            self._stop_at_cap(response)

    def _said(self, text: str) -> None:
        response = self._response
        if response is None:
            return
        message = self._message(response)
        if response.cap.spilled:
            return  # the transcript of audio not forwarded
        response.said.append(text)
        if not response.cancelled:
            at = self._at(response, message)
            self.client.emit("response.output_audio_transcript.delta", **at, delta=text)

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
            self.client.emit(
                "response.output_item.added", response_id=response.id, output_index=index, item=item
            )
            self.client.added(item, self.client.last_item, done=False)
            part = (
                {"type": part_type, "transcript": ""}
                if self.audio_out
                else {"type": part_type, "text": ""}
            )
            self.client.emit("response.content_part.added", **self._at(response, item), part=part)
        return response.message

    def _function_call(self, call: dict[str, Any]) -> None:
        response = self._response
        if response is None:
            return
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
        self.client.emit(
            "response.output_item.added", response_id=response.id, output_index=index, item=item
        )
        self.client.added(item, self.client.last_item, done=False)
        self.client.emit(
            "response.function_call_arguments.done",
            response_id=response.id,
            item_id=item["id"],
            output_index=index,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )
        self.client.emit(
            "response.output_item.done", response_id=response.id, output_index=index, item=item
        )
        self.client.emit("conversation.item.done", item=item)
        response.called = True

    def _finish(self, status: str, reason: str | None = None) -> None:
        """Close the turn: the user's transcript, then the response with its usage."""
        user, self.input.answered = self.input.answered, None
        if user is not None and user.transcript:
            transcript = "".join(user.transcript).strip()
            user.transcript = []
            item = self.client.items.get(user.item_id)
            if item is not None:
                item["content"] = [{"type": "input_audio", "transcript": transcript}]
            completed = {"item_id": user.item_id, "content_index": 0, "transcript": transcript}
            self.client.emit("conversation.item.input_audio_transcription.completed", **completed)
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
                self.client.emit("response.output_audio.done", **at)
                self.client.emit("response.output_audio_transcript.done", **at, transcript=said)
                part = {"type": "output_audio", "transcript": said}
            else:
                self.client.emit("response.output_text.done", **at, text=said)
                part = {"type": "output_text", "text": said}
            self.client.emit("response.content_part.done", **at, part=part)
            message.update(status="completed" if status == "completed" else "incomplete")
            message["content"] = [part]
            index = at["output_index"]
            self.client.emit(
                "response.output_item.done",
                response_id=response.id,
                output_index=index,
                item=message,
            )
            self.client.emit("conversation.item.done", item=message)
        view = self._view(response, status, reason)
        if status == "incomplete":
            self._done_at_cap(response, view)
        else:
            self.client.emit("response.done", response=view)

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
        self.client.emit("response.done", response=view | {"usage": usage}, **extra)

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
            "max_output_tokens": "inf" if response.cap.tokens is None else response.cap.tokens,
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

    def _response_id(self) -> str | None:
        return self._response.id if self._response is not None else None
