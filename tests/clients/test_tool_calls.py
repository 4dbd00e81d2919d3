"""A tool call and logprobs, whole and streamed, reach LiteLLM and the openai npm package as
the upstream sent them (issue 13: the gateway once answered content "" and finish "stop")."""

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from tests.clients.conftest import (
    Served,
    needs_clients_venv,
    needs_node_sdk,
    run_node_client,
    run_python_client,
    succeeded,
)
from tests.clients.tool_upstream import CALL_ID, TOKENS, TOOL_ARGUMENTS, TOOL_NAME, tool_upstream
from tests.gateway_process import routed_gateway

CALLS = ["unary", "streamed"]


@pytest.fixture(scope="module")
def tool_served(tmp_path_factory: pytest.TempPathFactory, served: Served) -> Iterator[Served]:
    """A gateway whose OpenAI routes lead to the tool-calling upstream."""
    with (
        tool_upstream() as upstream,
        routed_gateway(
            tmp_path_factory.mktemp("tools"), OPENAI_BASE_URL=f"{upstream.base_url}/v1"
        ) as (gateway, sim),
    ):
        key = gateway.new_workspace(f"tools-{secrets.token_hex(4)}", "5.00")
        yield Served(gateway, sim, key, served.wav_path)


@pytest.fixture(scope="module")
def litellm_results(tool_served: Served) -> dict[str, Any]:
    return run_python_client("litellm_tools.py", tool_served)


@pytest.fixture(scope="module")
def node_results(tool_served: Served) -> dict[str, Any]:
    return run_node_client("tools.mjs", tool_served)


@needs_clients_venv
@pytest.mark.parametrize("call", CALLS)
def test_litellm_gets_the_tool_call_and_logprobs(
    litellm_results: dict[str, Any], call: str
) -> None:
    answer = succeeded(litellm_results, call)
    assert answer["finish_reason"] == "tool_calls"
    [tool_call] = answer["tool_calls"]
    assert (tool_call["id"], tool_call["name"]) == (CALL_ID, TOOL_NAME)
    assert json.loads(tool_call["arguments"]) == json.loads(TOOL_ARGUMENTS)
    assert answer["logprob_tokens"] == TOKENS


@needs_node_sdk
@pytest.mark.parametrize("call", CALLS)
def test_node_sdk_gets_the_tool_call_and_logprobs(node_results: dict[str, Any], call: str) -> None:
    completion = ChatCompletion.model_validate(succeeded(node_results, call))
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    [tool_call] = choice.message.tool_calls or []
    assert tool_call.id == CALL_ID and tool_call.type == "function"
    assert tool_call.function.name == TOOL_NAME
    assert json.loads(tool_call.function.arguments) == json.loads(TOOL_ARGUMENTS)
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert [item.token for item in choice.logprobs.content] == TOKENS
