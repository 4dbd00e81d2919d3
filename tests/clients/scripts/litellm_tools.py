"""LiteLLM's SDK on a chat completion that the upstream answers with a tool call and logprobs,
whole and streamed (the stream rebuilt by LiteLLM's own chunk builder)."""

import os
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm
from outcome import run

litellm.telemetry = False

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _request(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "openai/gpt-audio",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "logprobs": True,
        "api_base": config["base_url"],
        "api_key": config["api_key"],
    }


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    return [
        {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
        for call in message.tool_calls or []
    ]


def _tokens(logprobs: Any) -> list[str]:
    return [item.token for item in logprobs.content] if logprobs and logprobs.content else []


async def unary(config: dict[str, Any]) -> dict[str, Any]:
    response = await litellm.acompletion(**_request(config))
    choice = response.choices[0]
    return {
        "finish_reason": choice.finish_reason,
        "tool_calls": _tool_calls(choice.message),
        "logprob_tokens": _tokens(choice.logprobs),
    }


async def streamed(config: dict[str, Any]) -> dict[str, Any]:
    stream = await litellm.acompletion(
        **_request(config), stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    # LiteLLM's chunk builder joins the tool call's pieces but keeps no logprobs: those are
    # read from the chunks as they came.
    choice = litellm.stream_chunk_builder(chunks).choices[0]
    tokens = [
        token
        for chunk in chunks
        for streamed_choice in chunk.choices
        for token in _tokens(getattr(streamed_choice, "logprobs", None))
    ]
    return {
        "finish_reason": choice.finish_reason,
        "tool_calls": _tool_calls(choice.message),
        "logprob_tokens": tokens,
    }


if __name__ == "__main__":
    run({"unary": unary, "streamed": streamed})
