"""What the simulated chat model adds when asked: a tool call, and log probabilities.

A tool is called when `tool_choice` demands one (`required`, or a named function; under `auto`
the simulated model answers in words), with the arguments `{}`. Log probabilities are given per
word of a text answer when `logprobs` is true, with `top_logprobs` alternatives.
"""

from typing import Any

from voxgate.simulator.wire import SimError

CALL_ID = "call_sim"


def tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or (choice not in ("required",) and not isinstance(choice, dict)):
        return None
    names = [str((tool.get("function") or {}).get("name")) for tool in tools]
    name = str((choice.get("function") or {}).get("name")) if isinstance(choice, dict) else names[0]
    if name not in names:
        raise SimError(400, f"tool_choice names {name!r}, which is not in tools.", "tool_choice")
    return {"id": CALL_ID, "type": "function", "function": {"name": name, "arguments": "{}"}}


def streamed_tool_call(call: dict[str, Any]) -> list[dict[str, Any]]:
    """The call as stream deltas: its id and name first, then its arguments."""
    opening = {**call, "index": 0, "function": {**call["function"], "arguments": ""}}
    arguments = {"index": 0, "function": {"arguments": call["function"]["arguments"]}}
    return [{"tool_calls": [opening]}, {"tool_calls": [arguments]}]


def logprobs(words: list[str], top: int) -> dict[str, Any]:
    return {"content": [_entry(word, top) for word in words], "refusal": None}


def _entry(token: str, top: int) -> dict[str, Any]:
    alternatives = [_token(token, -0.05)] + [
        _token(f"{token.strip()}{'.' * i}", -2.0 * i) for i in range(1, top)
    ]
    return _token(token, -0.05) | {"top_logprobs": alternatives[:top]}


def _token(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}
