"""OpenTelemetry traces through the standard OTEL_* variables: a request that fails over is one
server span with a child per attempt (the failed one marked as such) and per billing step,
received by an OTLP/HTTP endpoint in this test and read with OpenTelemetry's own protobuf
types; no secret and no audio is in any attribute."""

import asyncio
import json
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.e2e.test_realtime_money import SECOND, append, connect, manual_turns, until
from tests.gateway_process import SIM_KEYS, RunningGateway, RunningSimulator, routed_gateway


class Collector:
    """An OTLP/HTTP traces endpoint on a loopback port: every span it was sent."""

    def __init__(self) -> None:
        self.spans: queue.Queue[Span] = queue.Queue()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            collector.spans.put(span)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace_of(self, request_id: str, timeout: float = 60) -> list[Span]:
        """Every span of the trace whose server span carries `request_id`, once all arrived."""
        return self.trace_where(lambda s: attributes(s).get("voxgate.request_id") == request_id)

    def trace_where(self, is_root: Callable[[Span], bool], timeout: float = 60) -> list[Span]:
        """Every span of the trace whose server span `is_root`, once all arrived."""
        seen: list[Span] = []
        root: Span | None = None
        while True:
            seen.append(self.spans.get(timeout=timeout))
            root = root or next(
                (s for s in seen if s.kind == Span.SPAN_KIND_SERVER and is_root(s)), None
            )
            if root is not None:
                # The server span ends last: everything of its trace has been sent with it.
                return [span for span in seen if span.trace_id == root.trace_id]


def value(any_value: AnyValue) -> Any:
    return getattr(any_value, any_value.WhichOneof("value") or "string_value")


def attributes(span: Span) -> dict[str, Any]:
    return {item.key: value(item.value) for item in span.attributes}


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningSimulator, Collector]]:
    collector = Collector()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_SERVICE_NAME": "voxgate-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with routed_gateway(Path(tmp_path_factory.mktemp("traces")), **env) as (gateway, sim):
        yield gateway, sim, collector
    collector.server.shutdown()


def test_a_failover_request_is_one_tree_of_spans(
    traced: tuple[RunningGateway, RunningSimulator, Collector],
) -> None:
    gateway, sim, collector = traced
    sim.queue_faults(SIM_KEYS["primary"], {"kind": "500"})
    key = gateway.new_workspace(f"traced-{secrets.token_hex(4)}", "1.00")
    body = {"model": "gpt-4o-mini-tts", "input": "Hello there.", "voice": "alloy"}
    with gateway.client(key) as client:
        response = client.post("/api/v1/audio", json=body)
    assert response.status_code == 200, response.text
    spans = collector.trace_of(response.headers["x-request-id"])
    [root] = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    assert root.name == "POST /api/v1/audio"
    assert attributes(root)["http.response.status_code"] == 200
    children = [span for span in spans if span.parent_span_id == root.span_id]
    assert [span.name for span in sorted(children, key=lambda s: s.start_time_unix_nano)] == [
        "hold",
        "upstream openai",
        "upstream openai",
        "settle",
    ]
    failed, served = [span for span in children if span.name == "upstream openai"]
    assert failed.status.code == Status.STATUS_CODE_ERROR
    assert served.status.code != Status.STATUS_CODE_ERROR
    assert attributes(served)["gen_ai.system"] == "openai"
    assert attributes(served)["gen_ai.request.model"] == "gpt-4o-mini-tts"
    [encoded] = [span for span in spans if span.parent_span_id == served.span_id]
    assert encoded.name == "encode audio"
    assert attributes(encoded)["voxgate.audio.seconds"] > 0
    [settle] = [span for span in children if span.name == "settle"]
    usage = attributes(settle)
    assert usage["gen_ai.request.model"] == "gpt-4o-mini-tts"
    assert usage["voxgate.charged_micro_usd"] > 0
    for span in spans:
        for name, shown in attributes(span).items():
            text = str(shown)
            assert all(secret not in text for secret in (*SIM_KEYS.values(), key)), name
            assert len(text) < 300, name  # no audio, no prompt


def test_a_realtime_session_has_a_span_per_response_with_its_stages(
    traced: tuple[RunningGateway, RunningSimulator, Collector],
) -> None:
    gateway, _, collector = traced
    key = gateway.new_workspace(f"traced-rt-{secrets.token_hex(4)}", "1.00")

    async def one_turn() -> str:
        async with connect(gateway, key) as socket:
            await manual_turns(socket)
            await append(socket, SECOND)
            await socket.send(json.dumps({"type": "input_audio_buffer.commit"}))
            await socket.send(json.dumps({"type": "response.create"}))
            done = await until(socket, "response.done")
        return str(done["response"]["id"])

    response_id = asyncio.run(one_turn())
    spans = collector.trace_where(lambda span: span.name == "WEBSOCKET /v1/realtime")
    [root] = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    assert attributes(root)["http.response.status_code"] == 101
    assert attributes(root)["voxgate.request_id"].startswith("req_")
    children = {span.name: span for span in spans if span.parent_span_id == root.span_id}
    assert {"setup session_created", "setup upstream_connected"} <= set(children)
    [connected] = [span for name, span in children.items() if name.startswith("upstream ")]
    response = children["realtime response"]
    told = attributes(response)
    assert told["gen_ai.response.id"] == response_id
    assert told["gen_ai.system"] == attributes(connected)["gen_ai.system"]
    assert told["gen_ai.request.model"] == "gpt-audio-1.5"
    assert told["gen_ai.usage.input_tokens"] > 0 and told["gen_ai.usage.output_tokens"] > 0
    stages = {span.name: span for span in spans if span.parent_span_id == response.span_id}
    assert set(stages) == {"transcript", "first_token", "first_audio", "speech_to_audio"}
    for stage in stages.values():
        assert response.start_time_unix_nano <= stage.start_time_unix_nano
        assert stage.start_time_unix_nano <= stage.end_time_unix_nano
        assert stage.end_time_unix_nano <= response.end_time_unix_nano
    whole = stages["speech_to_audio"]
    assert (whole.start_time_unix_nano, whole.end_time_unix_nano) == (
        response.start_time_unix_nano,
        stages["first_audio"].end_time_unix_nano,
    )
    for span in spans:
        for name, shown in attributes(span).items():
            assert key not in str(shown) and len(str(shown)) < 300, name
