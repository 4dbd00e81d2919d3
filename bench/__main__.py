"""Every benchmark in one run, printed as Markdown tables with the machine they ran on.

Run: scripts/bench (it installs the LiteLLM proxy beside the project, then runs this), or
.venv/bin/python -m bench [overhead] [gateways] [ttfb] [throughput] [servers] [engine] for some
sections only.
"""

import datetime
import platform
import sys
import tempfile
from pathlib import Path

from tests.gateway_process import start_simulator, stop_gateway

from bench import ttfb
from bench.gateways import DIRECT, GatewayFigure, measure_gateways
from bench.local_engine import EngineFigures, measure_engine
from bench.overhead import FLOOR, Overhead, measure_overhead
from bench.processes import HARNESS_CPUS, litellm_available, pin
from bench.servers import ServerRow, measure_servers
from bench.throughput import ThroughputReport, measure_throughput
from bench.upstream import fast_upstream
from bench.wrk import WrkResult

SECTIONS = ("overhead", "gateways", "ttfb", "throughput", "servers", "engine")


def main(sections: list[str]) -> None:
    chosen = [section for section in SECTIONS if not sections or section in sections]
    print(_machine())
    with tempfile.TemporaryDirectory() as directory:
        sim_process, sim = start_simulator(Path(directory), fast=True)
        try:
            pin(sim_process.pid, HARNESS_CPUS)
            with fast_upstream(sim) as upstream:
                pin(upstream.pid, HARNESS_CPUS)
                if "overhead" in chosen:
                    print(_overhead_table(measure_overhead(upstream)))
                if "gateways" in chosen:
                    print(_gateways_table(measure_gateways(upstream)))
                if "throughput" in chosen:
                    print(_throughput_tables(measure_throughput(upstream)))
                if "servers" in chosen:
                    print(_servers_table(measure_servers(upstream)))
        finally:
            stop_gateway(sim_process)
    if "ttfb" in chosen:
        ttfb.main()
    if "engine" in chosen:
        print(_engine_table(measure_engine()))


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    cores = len(
        [
            line
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("processor")
        ]
    )
    today = datetime.date.today().isoformat()
    lines = [f"Ran {today} on {cpu}, {cores} cores, Python {platform.python_version()}."]
    if not litellm_available():
        lines.append("LiteLLM is not installed (scripts/bench installs it): its columns are empty.")
    return "\n".join(lines) + "\n"


def _overhead_table(rows: list[Overhead]) -> str:
    """Each row's added latency, its tail over its median (target ≤ 3 on every request kind) and
    its added p50 over the bare forwarder's, measured in the same run (target ≤ 1.5)."""
    floor = next(row for row in rows if row.backend == FLOOR)
    lines = [
        "Added latency at concurrency 1, billing on (gateway minus direct; ms). Speech through "
        "/api/v1/audio and chat on SQLite and PostgreSQL; the other request kinds on SQLite "
        "only. Targets: gateway p99/p50 ≤ 3, added p50 ÷ forwarder's ≤ 1.5.\n",
        "| database | request | direct p50 | gateway p50 | **added p50** | direct p99 | gateway p99 "
        "| **added p99** | **gateway p99/p50** | **added p50 ÷ forwarder's** |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        versus_floor = "—" if row is floor else f"**{row.added_p50_ms / floor.added_p50_ms:.2f}**"
        lines.append(
            f"| {row.backend} | {row.request} | {row.direct.p50_ms:.2f}{_failed(row.direct)} "
            f"| {row.gateway.p50_ms:.2f}{_failed(row.gateway)} | **{row.added_p50_ms:.2f}** "
            f"| {row.direct.p99_ms:.2f} | {row.gateway.p99_ms:.2f} | **{row.added_p99_ms:.2f}** "
            f"| **{row.gateway_spread:.2f}** | {versus_floor} |"
        )
    return "\n".join(lines) + "\n"


def _gateways_table(figures: list[GatewayFigure]) -> str:
    """Each request kind at each concurrency, one column per gateway: p50 ms / p99 ms / rps."""
    gateways = list(dict.fromkeys(figure.gateway for figure in figures))
    kinds = list(dict.fromkeys((figure.request, figure.concurrency) for figure in figures))
    cell = {(f.gateway, f.request, f.concurrency): f for f in figures}
    lines = [
        "Every HTTP request kind side by side, one worker each (wrk; p50 ms / p99 ms / "
        f"requests/s; {DIRECT} is the provider called without a gateway)\n",
        "| request | c | " + " | ".join(gateways) + " |",
        "|---|---:|" + "---|" * len(gateways),
    ]
    for request, concurrency in kinds:
        cells = [_gateway_cell(cell.get((gateway, request, concurrency))) for gateway in gateways]
        lines.append(f"| {request} | {concurrency} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _gateway_cell(figure: GatewayFigure | None) -> str:
    if figure is None:
        return "–"
    failed = f" ({figure.failures} failed)" if figure.failures else ""
    return f"{figure.p50_ms:.2f} / {figure.p99_ms:.1f} / {figure.rps:.0f}{failed}"


def _failed(result: WrkResult) -> str:
    """A run's failed requests beside its figure: their latencies are in it too."""
    return f" ({result.failures} failed)" if result.failures else ""


def _throughput_tables(report: ThroughputReport) -> str:
    lines = [
        "Throughput against the replayed fast-mode answers (wrk; requests/s, p99 ms)\n",
        "| request | workers | concurrency | voxgate rps | LiteLLM rps | **rps ratio** | voxgate p99 | LiteLLM p99 | **p99 ratio** |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    voxgate = [row for row in report.rows if row.gateway == "voxgate"]
    for ours in voxgate:
        theirs = next(
            (
                row
                for row in report.rows
                if row.gateway == "LiteLLM"
                and (row.workers, row.request, row.concurrency)
                == (ours.workers, ours.request, ours.concurrency)
            ),
            None,
        )
        failures = _failed(ours.result)
        if theirs is None:
            lines.append(
                f"| {ours.request} | {ours.workers} | {ours.concurrency} | "
                f"{ours.result.rps:.0f}{failures} | | | {ours.result.p99_ms:.1f} | | |"
            )
            continue
        lines.append(
            f"| {ours.request} | {ours.workers} | {ours.concurrency} | {ours.result.rps:.0f}{failures} "
            f"| {theirs.result.rps:.1f} | **{ours.result.rps / theirs.result.rps:.1f}×** "
            f"| {ours.result.p99_ms:.1f} | {theirs.result.p99_ms:.1f} "
            f"| **{ours.result.p99_ms / theirs.result.p99_ms:.3f}** |"
        )
    lines += [
        "\nResident memory, one worker, no local engine loaded (MB)\n",
        "| gateway | idle | after the load above |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {rss.gateway} | {rss.idle_mb:.0f} | {rss.loaded_mb:.0f} |" for rss in report.memory
    ]
    return "\n".join(lines) + "\n"


def _servers_table(rows: list[ServerRow]) -> str:
    lines = [
        "The ASGI server: one worker, the same app, speech through /v1/audio/speech (wrk)\n",
        "| server | concurrency | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {row.server} | {row.concurrency} | {row.result.rps:.0f} | "
        f"{row.result.p50_ms:.1f} | {row.result.p99_ms:.1f} |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def _engine_table(figures: EngineFigures) -> str:
    rows = [
        ("speech real-time factor (Piper)", f"{figures.speech_rtf:.3f}", "≤ 0.08"),
        (
            "transcription real-time factor (whisper tiny.en)",
            f"{figures.transcription_rtf:.3f}",
            "≤ 0.1",
        ),
        ("streamed speech, first audio byte", f"{figures.first_byte_ms:.0f} ms", "≤ 250 ms"),
        ("streamed speech, last audio byte", f"{figures.last_byte_ms:.0f} ms", ""),
        (
            "4 concurrent speech requests",
            f"{figures.concurrent_rps:.2f} req/s, p50 {figures.concurrent_p50_ms:.0f} ms",
            "",
        ),
    ]
    lines = ["Local engine\n", "| figure | measured | target |", "|---|---:|---:|"]
    lines += [f"| {what} | {value} | {target} |" for what, value, target in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
