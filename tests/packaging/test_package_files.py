"""The sdist and the wheel carry every file of the package that git tracks: templates, locales,
catalog rows, migrations, the code; nothing of a build's leftovers; and the commit they were
built from."""

from pathlib import Path

import pytest

from tests.packaging.build import (
    COMMIT_IN_PACKAGE,
    Built,
    build,
    checkout_commit,
    package_files_in_git,
    project_version,
    sdist_files,
    wheel_files,
)

# What the sdist holds beside the package: how to build it, and setuptools' own records.
SDIST_BUILD_FILES = {
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "MANIFEST.in",
    "README.md",
    "LICENSE",
    "PKG-INFO",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("package"))


def test_the_wheel_carries_every_tracked_file_of_the_package(built: Built) -> None:
    tracked, untracked = package_files_in_git()
    shipped = {name for name in wheel_files(built.wheel) if name.startswith("voxgate/")}
    assert not tracked - shipped, f"files the wheel lacks: {sorted(tracked - shipped)}"
    stray = shipped - tracked - untracked - {COMMIT_IN_PACKAGE}
    assert not stray, f"files the wheel should not carry: {sorted(stray)}"
    assert built.wheel.name == f"voxgate-{project_version()}-py3-none-any.whl"


def test_the_sdist_carries_the_package_and_how_to_build_it(built: Built) -> None:
    tracked, untracked = package_files_in_git()
    files = sdist_files(built.sdist)
    package = {name.removeprefix("src/") for name in files if name.startswith("src/voxgate/")}
    assert not tracked - package, f"files the sdist lacks: {sorted(tracked - package)}"
    assert not package - tracked - untracked - {COMMIT_IN_PACKAGE}
    others = {name for name in files if not name.startswith("src/")}
    assert others == SDIST_BUILD_FILES, sorted(others ^ SDIST_BUILD_FILES)


def test_both_record_the_commit_they_were_built_from(built: Built, tmp_path: Path) -> None:
    import tarfile
    import zipfile

    with zipfile.ZipFile(built.wheel) as archive:
        assert archive.read(COMMIT_IN_PACKAGE).decode().strip() == checkout_commit()
    with tarfile.open(built.sdist) as archive:
        [member] = [m for m in archive.getmembers() if m.name.endswith("src/" + COMMIT_IN_PACKAGE)]
        carried = archive.extractfile(member)
        assert carried is not None and carried.read().decode().strip() == checkout_commit()
