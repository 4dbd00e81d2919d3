"""Test layers (docs/testing.md): a test that starts a process (a gateway, the simulator, a
client, nginx) is marked `process`, by where it lives; every other test is in the fast layer
(`pytest --fast`, as `scripts/test-fast` runs it: not `process`, not `slow`) and is stopped if
it starts one anyway."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.database_fixtures"]

TESTS = Path(__file__).parent
# Where the tests that start processes live: whole directories, and single modules elsewhere.
PROCESS_DIRECTORIES = ("e2e", "clients", "simulator", "packaging")
PROCESS_MODULES = frozenset(
    {
        "test_data_dir.py",
        "providers/test_streaming_speech.py",
        "providers/test_wire_parity.py",
        "providers/local/test_bounded_synthesis.py",
    }
)


def starts_processes(path: Path) -> bool:
    """Whether the tests at `path` (a module, or a directory of them) start processes."""
    relative = path.relative_to(TESTS).as_posix()
    return relative.split("/", 1)[0] in PROCESS_DIRECTORIES or relative in PROCESS_MODULES


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="only the fast layer: tests that start no process and load no real model; the "
        "process modules are not even imported",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.getoption("--fast") or not collection_path.is_relative_to(TESTS):
        return None
    return starts_processes(collection_path) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if starts_processes(item.path):
            item.add_marker(pytest.mark.process)
    if config.getoption("--fast"):
        slow = [item for item in items if item.get_closest_marker("slow")]
        if slow:
            config.hook.pytest_deselected(items=slow)
            items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(autouse=True)
def _no_process_in_the_fast_layer(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """A test outside the `process` places that starts a process fails, naming the fix, so the
    fast layer stays fast and its marker stays true."""
    if request.node.get_closest_marker("process") or request.node.get_closest_marker("slow"):
        yield
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"{request.node.nodeid} starts a process: move it under tests/e2e, or add its module "
            "to PROCESS_MODULES in tests/conftest.py"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield
