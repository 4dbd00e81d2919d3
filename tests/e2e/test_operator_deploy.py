"""The deployment files parse, as far as this machine's tools allow, and run the commands the
tests run; behind a proxy, the public URL and trusted forwarded headers shape what is shown."""

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
import yaml

from tests.gateway_process import start_gateway, stop_gateway, whole_lines
from voxgate.cli import app
from voxgate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def accepted_by_cli(arguments: list[str]) -> None:
    """The arguments parse as a `voxgate` command line (options and values exist)."""
    group = typer.main.get_command(app)
    context = group.make_context("voxgate", list(arguments))
    remaining = [*getattr(context, "_protected_args", []), *context.args]
    name, command, rest = group.resolve_command(context, remaining)
    assert name is not None and command is not None, arguments
    command.make_context(name, rest, parent=context)


def setting_names(text: str) -> set[str]:
    return set(re.findall(r"\bVOXGATE_([A-Z_]+?)\b(?==|:|\s)", text))


def test_every_variable_the_files_set_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    # VOXGATE_REPLICAS is compose's own (how many gateways), not the gateway's.
    for path in (DEPLOY / "compose.yaml", DEPLOY / "voxgate.service", ROOT / "Dockerfile"):
        unknown = setting_names(path.read_text()) - fields - {"REPLICAS"}
        assert not unknown, (path.name, unknown)


def test_the_systemd_unit_verifies_and_runs_voxgate_serve(tmp_path: Path) -> None:
    unit = (DEPLOY / "voxgate.service").read_text()
    [exec_start] = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    binary, *arguments = exec_start.split()
    assert binary == "/opt/voxgate/.venv/bin/voxgate" and arguments == ["serve"]
    accepted_by_cli(arguments)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # Verified with this checkout's voxgate in place of the one /opt would hold.
    here = tmp_path / "voxgate.service"
    here.write_text(unit.replace(binary, str(Path(sys.executable).parent / "voxgate")))
    done = subprocess.run([analyze, "verify", str(here)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "voxgate.service" not in done.stderr, done.stderr


def test_the_compose_file_runs_n_gateways_behind_nginx() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "gateway", "nginx"}
    gateway = services["gateway"]
    accepted_by_cli(gateway["command"])
    assert gateway["command"] == ["serve"]
    assert "${VOXGATE_REPLICAS" in str(gateway["deploy"]["replicas"])
    environment = gateway["environment"]
    assert environment["VOXGATE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["VOXGATE_REDIS_URL"].startswith("redis://redis:")
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    # With PostgreSQL and Redis the replicas share nothing local: no volume among them (each
    # has its image's own data volume), and the metrics files in a /tmp of each one's own.
    assert "volumes" not in gateway, gateway.get("volumes")
    assert set(compose["volumes"]) == {"postgres"}
    assert gateway["tmpfs"] == ["/tmp"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in environment
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("docker compose is not installed: parsed with PyYAML only")
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "p", "VOXGATE_KEY_PEPPER": "k", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


def test_the_nginx_config_is_valid_and_is_the_one_documented(tmp_path: Path) -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations.split("## Connection limits", 1)[1].split("\n## ", 1)[0]
    [documented] = re.findall(r"```nginx\n(.*?)```", section, re.DOTALL)
    lines = [line.strip() for line in documented.splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert line in conf, f"docs/operations.md shows {line!r}, deploy/nginx.conf lacks it"
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (scripts/system-packages installs it)")
    # The compose network's name for the gateways does not resolve here.
    local = tmp_path / "nginx.conf"
    local.write_text(conf.replace("server gateway:8080", "server 127.0.0.1:8080"))
    done = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(local), "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_the_dockerfile_layers_models_first_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line for line in dockerfile.splitlines() if line and not line.startswith(("#", " "))
    ]
    order = [line.split()[0] for line in instructions]
    models = instructions.index("RUN pip install --require-hashes --no-deps -r /tmp/models.lock")
    dependencies = instructions.index("RUN pip install --require-hashes -r /tmp/requirements.lock")
    source = instructions.index("COPY src /src/src")
    assert models < dependencies < source
    # Everything the build reads: pyproject, the commit step, the file list, the package.
    build_files = instructions[source - 1].split()[1:-1]
    assert {"pyproject.toml", "setup.py", "MANIFEST.in"} <= set(build_files), build_files
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**/*.egg-info" in ignored and "**/__pycache__" in ignored
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert order.index("USER") > source
    assert "HEALTHCHECK" in order and "/readyz" in dockerfile
    assert 'ENTRYPOINT ["voxgate"]' in instructions and 'CMD ["serve"]' in instructions
    accepted_by_cli(["serve"])


def hashes_by_package(lock: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", lock):
        name = re.match(r"([a-z0-9._-]+)==", block)
        if name:
            found.setdefault(name.group(1), set()).update(
                re.findall(r"sha256:([0-9a-f]{64})", block)
            )
    return found


def test_the_locks_pin_every_runtime_dependency_with_hashes() -> None:
    runtime = hashes_by_package((ROOT / "requirements.lock").read_text())
    models = hashes_by_package((DEPLOY / "models.lock").read_text())
    assert all(runtime.values()), "every package of requirements.lock has hashes"
    for package, hashes in models.items():
        assert hashes and hashes <= runtime[package], package
    pyproject = (ROOT / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [", 1)[1].split("]", 1)[0]
    for requirement in re.findall(r'"([A-Za-z0-9_.-]+)', dependencies):
        assert requirement.lower().replace("_", "-") in runtime, requirement


def access_line(output: Path, request_id: str) -> dict[str, str]:
    """The access line of one request, from the text log (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in whole_lines(output):
            if "voxgate.access" in line and f"request_id={request_id} " in line:
                fields = line.split("voxgate.access: ", 1)[1].split(" ")
                return dict(field.split("=", 1) for field in fields)
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id}:\n{output.read_text()}")


def test_the_public_url_and_trusted_forwarded_headers(tmp_path: Path) -> None:
    env = {"VOXGATE_ENGINE_PRELOAD": "false", "VOXGATE_TRUSTED_PROXIES": "127.0.0.0/8"}
    process, gateway = start_gateway(tmp_path / "trusted", env)
    try:
        proxied = {"Host": "voice.example.com", "X-Forwarded-Proto": "https"}
        spec = httpx.get(f"{gateway.base_url}/openapi.json", headers=proxied).json()
        # From a trusted proxy: the origin the proxy saw.
        assert spec["servers"] == [{"url": "https://voice.example.com"}]
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Request-ID": "lb-trusted-1"}
        answer = httpx.get(f"{gateway.base_url}/healthz", headers=forwarded)
        assert answer.headers["x-request-id"] == "lb-trusted-1"
        assert access_line(gateway.output, "lb-trusted-1")["client"] == "203.0.113.7"
    finally:
        stop_gateway(process)
    # Nobody is trusted by default.
    process, gateway = start_gateway(tmp_path / "untrusted", {"VOXGATE_ENGINE_PRELOAD": "false"})
    try:
        spec = httpx.get(f"{gateway.base_url}/openapi.json", headers=proxied).json()
        assert spec["servers"] == [{"url": "http://voice.example.com"}]
        # An id or a client address from an untrusted peer is not believed.
        answer = httpx.get(f"{gateway.base_url}/healthz", headers=forwarded)
        request_id = answer.headers["x-request-id"]
        assert request_id.startswith("req_")
        assert access_line(gateway.output, request_id)["client"] == "127.0.0.1"
    finally:
        stop_gateway(process)
    public = "https://gateway.example.org"
    env = {"VOXGATE_ENGINE_PRELOAD": "false", "VOXGATE_PUBLIC_URL": public}
    process, gateway = start_gateway(tmp_path / "public", env)
    try:
        spec = httpx.get(f"{gateway.base_url}/openapi.json", headers=proxied).json()
        assert spec["servers"] == [{"url": public}]
        assert f"curl -sS {public}/api/v1/audio" in gateway.curl_line
        assert f"serving on {public}" in gateway.output.read_text()
    finally:
        stop_gateway(process)
