"""The stage clock: a turn's marks, read off the events a session's socket carries, become each
stage's time, whatever order a provider sends its transcript in; set-up is timed from the
handshake; each response is reported as histograms and a span per stage under the session's.
A fake clock stands in for time, so the figures are exact."""

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voxgate.gateway.realtime.stage_report import access_fields, report_stages
from voxgate.gateway.realtime.stages import ResponseTimes, StageClock
from voxgate.metrics import Books, Metrics

MS = 1_000_000  # nanoseconds


class FakeTime:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def at(self, milliseconds: int) -> "FakeTime":
        self.now = milliseconds * MS
        return self


def delta(kind: str, response_id: str = "resp_1") -> dict[str, Any]:
    return {"type": kind, "response_id": response_id, "delta": "AAAA"}


def created(response_id: str = "resp_1") -> dict[str, Any]:
    return {"type": "response.created", "response": {"id": response_id}}


def done(response_id: str = "resp_1", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "response.done", "response": {"id": response_id, "usage": usage or {}}}


TRANSCRIBED = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "i"}
STOPPED = {"type": "input_audio_buffer.speech_stopped", "item_id": "i"}


def clocked() -> tuple[StageClock, FakeTime, list[ResponseTimes], dict[str, float]]:
    time = FakeTime()
    clock = StageClock(time)
    finished: list[ResponseTimes] = []
    setup: dict[str, float] = {}
    clock.watch(finished.append, setup.__setitem__)
    return clock, time, finished, setup


def speak_a_turn(clock: StageClock, time: FakeTime, first_token: str) -> None:
    """A turn whose speech stops at 1.0 s: its transcript 0.3 s later, its first token (a
    `first_token` delta) 0.4 s after that, its first audio 0.2 s after that."""
    time.at(1000)
    clock.sent(STOPPED)
    time.at(1300)
    clock.sent(TRANSCRIBED)
    clock.sent(created())
    time.at(1700)
    clock.sent(delta(first_token))
    time.at(1900)
    clock.sent(delta("response.output_audio.delta"))


def test_a_spoken_turn_is_timed_stage_by_stage() -> None:
    clock, time, finished, _ = clocked()
    speak_a_turn(clock, time, "response.output_audio_transcript.delta")
    time.at(2000)
    clock.sent(delta("response.output_audio.delta"))  # only the first piece counts
    clock.sent(done(usage={"input_tokens": 5, "output_tokens": 7}))
    [response] = finished
    assert response.stages() == {
        "transcript": 0.3,
        "first_token": 0.4,
        "first_audio": 0.2,
        "speech_to_audio": 0.9,
    }
    assert response.usage == {"input_tokens": 5, "output_tokens": 7}
    assert response.started == 1000 * MS  # the wait began when the speaker stopped
    assert clock.p50() == response.stages()


def test_a_transcript_after_the_answer_began_leaves_the_answer_timed_from_speech() -> None:
    clock, time, finished, _ = clocked()
    clock.received({"type": "input_audio_buffer.commit"})  # the client ends its own turn
    time.at(100)
    clock.sent(created())
    time.at(400)
    clock.sent(delta("response.output_text.delta"))
    time.at(500)
    clock.sent(TRANSCRIBED)  # a relayed provider's transcript may come late
    clock.sent(done())
    [response] = finished
    assert response.stages() == {"transcript": 0.5, "first_token": 0.4}


def test_a_response_without_speech_has_no_stages_and_others_ignored() -> None:
    clock, time, finished, _ = clocked()
    clock.sent(created())
    time.at(50)
    clock.sent(delta("response.output_audio.delta"))
    clock.sent(delta("response.output_audio.delta", "resp_unknown"))
    clock.sent(done("resp_unknown"))  # never created here: nothing to report
    clock.sent(done())
    [response] = finished
    assert response.stages() == {}
    assert response.started == response.created == 0
    assert clock.p50() == {}


def test_each_turn_belongs_to_the_response_after_it() -> None:
    clock, time, finished, _ = clocked()
    for turn, wait in enumerate((200, 400, 900)):
        start = turn * 10_000
        time.at(start)
        clock.sent(STOPPED)
        clock.sent(created(f"resp_{turn}"))
        time.at(start + wait)
        clock.sent(delta("response.output_audio.delta", f"resp_{turn}"))
        clock.sent(done(f"resp_{turn}"))
    assert [r.stages()["speech_to_audio"] for r in finished] == [0.2, 0.4, 0.9]
    assert clock.p50()["speech_to_audio"] == 0.4
    assert access_fields(clock)["speech_to_audio_p50_ms"] == 400.0


def test_set_up_is_timed_from_the_handshake_once() -> None:
    time = FakeTime().at(10)
    clock = StageClock(time)
    time.at(25)
    clock.upstream_connected()
    time.at(40)
    clock.sent({"type": "session.created", "session": {}})
    time.at(90)
    clock.upstream_connected()  # a moved session's next upstream is not its set-up
    clock.sent({"type": "session.created", "session": {}})
    told: dict[str, float] = {}
    clock.watch(lambda response: None, told.__setitem__)  # a late watcher hears what passed
    assert told == clock.setup == {"upstream_connected": 0.015, "session_created": 0.03}
    assert access_fields(clock) == {
        "setup_upstream_connected_ms": 15.0,
        "setup_session_created_ms": 30.0,
    }


def test_a_response_is_reported_as_histograms_and_a_span_per_stage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    metrics = Metrics()
    time = FakeTime().at(5)
    clock = StageClock(time)
    with tracer.start_as_current_span("WEBSOCKET /v1/realtime") as session:
        report_stages(clock, metrics, tracer, "local-realtime", lambda: "openai")
    time.at(20)
    clock.sent({"type": "session.created", "session": {}})
    speak_a_turn(clock, time, "response.output_text.delta")
    clock.sent(done(usage={"input_tokens": 5, "output_tokens": 7}))
    spans = {span.name: span for span in exporter.get_finished_spans()}
    response = spans["realtime response"]
    assert response.parent is not None
    assert response.parent.span_id == session.get_span_context().span_id
    assert response.attributes is not None
    assert response.attributes["gen_ai.system"] == "openai"
    assert response.attributes["gen_ai.usage.output_tokens"] == 7
    for stage in ("transcript", "first_token", "first_audio", "speech_to_audio"):
        parent = spans[stage].parent
        assert parent is not None and parent.span_id == response.get_span_context().span_id
    whole = spans["speech_to_audio"]
    assert whole.end_time is not None and whole.start_time is not None
    assert whole.end_time - whole.start_time == 900 * MS
    setup = spans["setup session_created"].parent
    assert setup is not None and setup.span_id == session.get_span_context().span_id
    exposition = metrics.render(Books(holds_open=0))
    assert (
        'voxgate_realtime_stage_seconds_count{model="local-realtime",stage="speech_to_audio"} 1.0'
        in exposition
    )
    assert (
        'voxgate_realtime_setup_seconds_count{model="local-realtime",step="session_created"} 1.0'
        in exposition
    )
