"""Pipecat's OpenAIRealtimeLLMService (from PyPI) at the gateway (issue 26): three spoken turns,
two of them spoken over the bot, on local-realtime and through the relay. Pipecat answers each
barge-in with `conversation.item.truncate` and treats any realtime error as fatal: the session
must hold every turn without one."""

import pytest

from tests.clients.conftest import (
    CLIENTS_PYTHON,
    SCRIPTS,
    Served,
    needs_clients_venv,
    run_client,
    succeeded,
)

pytestmark = needs_clients_venv


@pytest.mark.parametrize("model", ["local-realtime", "gpt-realtime-2.1"])
def test_three_turns_with_two_barge_ins(served: Served, model: str) -> None:
    script = str(SCRIPTS / "pipecat_realtime.py")
    results = run_client([str(CLIENTS_PYTHON), script, model], served, SCRIPTS)
    answer = succeeded(results, "barge_in")
    assert answer["errors"] == []
    assert answer["sent"].count("conversation.item.truncate") == 2, answer["sent"]
    spoken = answer["answers"]
    assert len(spoken) == 3 and 0 < spoken[0] < spoken[1] < spoken[2], spoken
    assert answer["answers_ended"] >= 1
