"""A served session's conversation items: what `conversation.item.retrieve` shows, what the
chat route reads, and what barge-in cuts.

An assistant item's audio is known by the milliseconds spoken; truncating it at `audio_end_ms`
keeps that much audio and the share of its transcript spoken by then, so a later turn reads
only what the user heard.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from voxgate.errors import InvalidRequestError

# The chat route sees the latest messages of the conversation, not all of a long session.
CONTEXT_MESSAGES = 40


@dataclass
class Items:
    # Every item by id, in order, as the client last saw it.
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The text the chat route reads for each item (a user's is what was heard).
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The audio spoken for each assistant item, in milliseconds.
    spoken_ms: dict[str, int] = field(default_factory=dict)

    def add(self, item: dict[str, Any], text: str | None = None) -> None:
        self.items[item["id"]] = item
        if text is not None:
            self.texts[item["id"]] = (str(item.get("role")), text)

    def heard(self, item_id: str, transcript: str) -> None:
        """A user's audio item, transcribed."""
        item = self.items.get(item_id)
        if item is not None:
            for part in item.get("content") or []:
                if part.get("type") == "input_audio":
                    part["transcript"] = transcript
            self.texts[item_id] = ("user", transcript)

    def answered(self, item: dict[str, Any], text: str, spoken_ms: int) -> None:
        """An assistant item as its response left it (completed or cut off)."""
        self.add(item, text)
        self.spoken_ms[item["id"]] = spoken_ms

    def messages(self) -> list[dict[str, Any]]:
        chosen = list(self.texts.values())[-CONTEXT_MESSAGES:]
        return [{"role": role, "content": text} for role, text in chosen]

    def read(self) -> list[tuple[str, str]]:
        """The items the chat route reads, by id with their text, oldest first."""
        chosen = list(self.texts.items())[-CONTEXT_MESSAGES:]
        return [(item_id, text) for item_id, (_, text) in chosen]

    def get(self, item_id: object, operation: str = "retrieve") -> dict[str, Any]:
        """The item, or the error OpenAI gives `operation` for an unknown one."""
        if not isinstance(item_id, str) or item_id not in self.items:
            raise InvalidRequestError(
                f"There is no item '{item_id}' in the conversation.",
                param="item_id",
                code=f"item_{operation}_invalid_item_id",
            )
        return copy.deepcopy(self.items[item_id])

    def delete(self, item_id: object) -> str:
        found = str(self.get(item_id, "delete")["id"])
        del self.items[found]
        self.texts.pop(found, None)
        self.spoken_ms.pop(found, None)
        return found

    def truncate(self, item_id: object, content_index: object, audio_end_ms: object) -> int:
        """Cut an assistant item's audio at `audio_end_ms` and its transcript with it; an
        InvalidRequestError names what OpenAI would refuse."""
        item = self.get(item_id, "truncate")
        found = str(item["id"])
        if item.get("role") != "assistant":
            raise InvalidRequestError(
                "Only assistant message items can be truncated.",
                param="item_id",
                code="invalid_value",
            )
        if content_index != 0:
            raise InvalidRequestError(
                "content_index must be 0.", param="content_index", code="invalid_value"
            )
        spoken = self.spoken_ms.get(found, 0)
        if not isinstance(audio_end_ms, int) or isinstance(audio_end_ms, bool):
            raise InvalidRequestError(
                "audio_end_ms must be an integer.", param="audio_end_ms", code="invalid_value"
            )
        if not 0 <= audio_end_ms <= spoken:
            raise InvalidRequestError(
                f"audio_end_ms ({audio_end_ms}) is past the item's {spoken} ms of audio.",
                param="audio_end_ms",
                code="invalid_value",
            )
        _, text = self.texts.get(found, ("assistant", ""))
        words = text.split()
        heard = " ".join(words[: round(len(words) * audio_end_ms / spoken)]) if spoken else ""
        for part in self.items[found].get("content") or []:
            if "transcript" in part:
                part["transcript"] = heard
        self.texts[found] = ("assistant", heard)
        self.spoken_ms[found] = audio_end_ms
        return audio_end_ms
