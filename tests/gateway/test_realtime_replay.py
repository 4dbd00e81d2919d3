"""What a moved session replays to its next route (gateway/realtime/failover.py): the client's
settings merged, and the conversation as the provider confirmed it, audio turns as their
transcripts; the next route's acknowledgements of the replay are the relay's own."""

from typing import Any

import pytest

from voxgate.gateway.realtime.failover import SessionReplay


def added(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "conversation.item.added", "item": item}


def spoken_turn(replay: SessionReplay) -> None:
    """A spoken question, heard, and a spoken answer; then an item the client deleted."""
    question = {"type": "input_audio", "transcript": None}
    replay.upstream_event(
        added({"id": "item_q", "type": "message", "role": "user", "content": [question]})
    )
    replay.upstream_event(
        {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": "item_q",
            "transcript": "How tall is it?",
        }
    )
    answer = {"type": "output_audio", "transcript": "About nine kilometres."}
    output = {"id": "item_a", "type": "message", "role": "assistant", "status": "completed"}
    replay.upstream_event(
        {"type": "response.done", "response": {"output": [output | {"content": [answer]}]}}
    )
    typed = {"type": "input_text", "text": "scratch"}
    replay.upstream_event(
        added({"id": "item_x", "type": "message", "role": "user", "content": [typed]})
    )
    replay.upstream_event({"type": "conversation.item.deleted", "item_id": "item_x"})


@pytest.mark.parametrize(("beta", "answer_type"), [(False, "output_text"), (True, "text")])
def test_the_conversation_is_replayed_as_text_in_order(beta: bool, answer_type: str) -> None:
    replay = SessionReplay(beta)
    spoken_turn(replay)
    items = [event["item"] for event in replay.events()]
    assert items == [
        {
            "id": "item_q",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "How tall is it?"}],
        },
        {
            "id": "item_a",
            "type": "message",
            "role": "assistant",
            "content": [{"type": answer_type, "text": "About nine kilometres."}],
        },
    ]


def test_audio_never_transcribed_is_not_replayed() -> None:
    replay = SessionReplay(beta=False)
    silent = {"id": "item_s", "type": "message", "role": "user"}
    replay.upstream_event(added(silent | {"content": [{"type": "input_audio"}]}))
    assert replay.events() == []


def test_the_client_settings_are_merged_into_one_update() -> None:
    replay = SessionReplay(beta=False)
    replay.client_update({"instructions": "Be brief.", "audio": {"output": {"voice": "ash"}}})
    tools = [{"type": "function", "name": "lookup"}]
    replay.client_update({"tools": tools, "audio": {"input": {"turn_detection": None}}})
    replay.client_update({"instructions": "Be very brief."})
    [update] = replay.events()
    assert update == {
        "type": "session.update",
        "session": {
            "instructions": "Be very brief.",
            "audio": {"output": {"voice": "ash"}, "input": {"turn_detection": None}},
            "tools": tools,
        },
    }


def test_the_next_routes_acknowledgements_of_the_replay_are_hidden() -> None:
    replay = SessionReplay(beta=False)
    spoken_turn(replay)
    replay.events()
    item = {"id": "item_q"}
    assert replay.hides({"type": "conversation.item.added", "item": item})
    assert replay.hides({"type": "conversation.item.done", "item": item})
    # Once acknowledged, the item's later events are the client's again.
    assert not replay.hides({"type": "conversation.item.done", "item": item})
    assert not replay.hides({"type": "conversation.item.added", "item": {"id": "item_new"}})


def test_an_item_the_provider_never_confirmed_is_replayed_as_sent_until_it_does() -> None:
    replay = SessionReplay(beta=False)
    typed = {"type": "input_text", "text": "And the second?"}
    question: dict[str, Any] = {"type": "message", "role": "user", "content": [typed]}
    replay.client_item(question)
    [unconfirmed] = replay.events()
    assert unconfirmed["item"] == question
    assert not replay.replayed, "its acknowledgement is the client's to see"
    replay.upstream_event(added(question | {"id": "item_2", "status": "completed"}))
    [confirmed] = replay.events()
    assert confirmed["item"] == question | {"id": "item_2"}
