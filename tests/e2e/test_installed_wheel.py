"""The wheel, installed the way an operator installs it: into a fresh venv outside the
checkout, offline, then `voxgate serve` from a temporary directory. It renders a reference page
in both languages and speaks; what the wheel lacks (a template, a locale) fails here.

The venv takes its dependencies from the test environment's site-packages through a path line in
a .pth file. A path line does not run that directory's own .pth files, so the editable install's
finder (which maps `voxgate` to a checkout) stays off: `voxgate` comes from the wheel alone."""

import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gateway_process import (
    FIRST_KEY,
    STARTUP_SECONDS,
    on_a_free_port,
    stop_gateway,
    wait_until_ready,
)
from tests.packaging.build import ROOT, Built, build, checkout_commit, project_version
from tests.packaging.checks import assert_reference_page_in_both_languages, assert_speaks


@dataclass(frozen=True)
class Installed:
    python: Path
    voxgate: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Served:
    base_url: str
    key: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("installed") / "venv"
    # Nothing of this checkout: no PYTHONPATH to src/, no settings, no venv of the suite.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
        and not name.startswith("VOXGATE_")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    assert not venv.is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    dependencies = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "dependencies.pth").write_text(dependencies + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install"]
    done = subprocess.run(
        [*pip, "--no-deps", "--no-index", str(built.wheel)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return Installed(python, venv / "bin" / "voxgate", env)


@pytest.fixture(scope="module")
def served(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("operator")
    data_dir = workdir / "data"
    env = {**installed.env, "VOXGATE_DATA_DIR": str(data_dir), "VOXGATE_ENGINE_PRELOAD": "false"}

    def serve(port: int) -> tuple[subprocess.Popen[bytes], str]:
        output = workdir / f"serve-{port}.log"
        with output.open("wb") as log:
            process = subprocess.Popen(
                [installed.voxgate, "serve", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        wait_until_ready(process, base_url, output)
        return process, base_url

    process, base_url = on_a_free_port(serve)
    try:
        # The key is shown by the first start, which may have found its port taken.
        shown = "".join(log.read_text() for log in workdir.glob("serve-*.log"))
        key = FIRST_KEY.search(shown)
        assert key is not None, shown
        yield Served(base_url, key.group(1))
    finally:
        stop_gateway(process)


def run_installed(installed: Installed, *arguments: str, cwd: Path) -> str:
    done = subprocess.run(
        arguments,
        cwd=cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_voxgate_comes_from_the_new_venv(installed: Installed, tmp_path: Path) -> None:
    where = run_installed(
        installed,
        str(installed.python),
        "-c",
        "import voxgate; print(voxgate.__file__)",
        cwd=tmp_path,
    )
    module = Path(where.strip())
    assert module.is_relative_to(installed.python.parents[1]), module
    assert not module.is_relative_to(ROOT), module


def test_the_version_names_the_release_and_the_commit(installed: Installed, tmp_path: Path) -> None:
    shown = run_installed(installed, str(installed.voxgate), "--version", cwd=tmp_path)
    assert shown == f"voxgate {project_version()} (commit {checkout_commit()})\n"


def test_the_reference_page_renders_in_both_languages(served: Served) -> None:
    assert_reference_page_in_both_languages(served.base_url)


def test_it_speaks(served: Served) -> None:
    assert_speaks(served.base_url, served.key)
