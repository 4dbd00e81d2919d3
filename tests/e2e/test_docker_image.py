"""The image the Dockerfile builds, run as `docker run` runs it: it serves, renders a reference
page in both languages, speaks, and names its version and commit. Building pulls the base image
and the locked packages, so this runs only where a Docker daemon answers; elsewhere the wheel
test (tests/e2e/test_installed_wheel.py) installs the same package and is the guard."""

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.gateway_process import FIRST_KEY, STARTUP_SECONDS
from tests.packaging.build import ROOT, checkout_commit, project_version
from tests.packaging.checks import assert_reference_page_in_both_languages, assert_speaks

BUILD_SECONDS = 1800
CONTAINER_PORT = 8080


def docker_daemon() -> str | None:
    """The docker client, if a daemon answers it."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    answered = subprocess.run([docker, "info"], capture_output=True, timeout=60)
    return docker if answered.returncode == 0 else None


DOCKER = docker_daemon()
pytestmark = pytest.mark.skipif(
    DOCKER is None,
    reason="no Docker daemon runs on this machine: the image is not built here; the wheel "
    "test (tests/e2e/test_installed_wheel.py) installs the same package and is the guard",
)


@dataclass(frozen=True)
class Container:
    image: str
    base_url: str
    key: str


def docker(*arguments: str, timeout: float = STARTUP_SECONDS) -> str:
    assert DOCKER is not None
    done = subprocess.run([DOCKER, *arguments], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def image() -> str:
    tag = f"voxgate-test:{checkout_commit()}"
    commit = f"SOURCE_COMMIT={checkout_commit()}"
    docker("build", "--build-arg", commit, "-t", tag, str(ROOT), timeout=BUILD_SECONDS)
    return tag


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    # Docker picks the host port on loopback: no port is guessed.
    name = docker(
        "run",
        "--detach",
        "--publish",
        f"127.0.0.1::{CONTAINER_PORT}",
        "--env",
        "VOXGATE_ENGINE_PRELOAD=false",
        image,
    ).strip()
    try:
        published = docker("port", name, str(CONTAINER_PORT)).splitlines()[0]
        base_url = f"http://{published.strip()}"
        key = wait_for_key(name)
        docker_ready(name)
        yield Container(image, base_url, key)
    finally:
        docker("rm", "--force", "--volumes", name)


def wait_for_key(name: str) -> str:
    """The first key, from the container's log once the banner shows it (the log ends if the
    container stops first)."""
    process = subprocess.Popen(
        [str(DOCKER), "logs", "--follow", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            found = FIRST_KEY.search(line)
            if found:
                return found.group(1)
        raise AssertionError("the container stopped before showing a key:\n" + "".join(seen))
    finally:
        process.kill()
        process.wait()


def docker_ready(name: str) -> None:
    """Until the image's own health check passes (it asks /readyz)."""
    docker(
        "exec",
        name,
        "python",
        "-c",
        "import time, urllib.request\n"
        f"deadline = time.monotonic() + {STARTUP_SECONDS}\n"
        "while True:\n"
        "    try:\n"
        "        urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2); break\n"
        "    except OSError:\n"
        "        assert time.monotonic() < deadline, 'not ready'\n"
        "        time.sleep(0.2)\n",
    )


def test_the_image_names_its_version_and_commit(image: str) -> None:
    shown = docker("run", "--rm", image, "--version")
    assert shown == f"voxgate {project_version()} (commit {checkout_commit()})\n"


def test_the_reference_page_renders_in_both_languages(container: Container) -> None:
    assert_reference_page_in_both_languages(container.base_url)


def test_it_speaks(container: Container) -> None:
    assert_speaks(container.base_url, container.key)


def test_the_data_directory_is_private(container: Container) -> None:
    listing = docker(
        "run", "--rm", "--entrypoint", "stat", container.image, "-c", "%a %U", "/var/lib/voxgate"
    )
    assert re.fullmatch(r"700 voxgate\n", listing), listing
