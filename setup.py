"""The build records the commit it was built from in voxgate/COMMIT (`voxgate --version` shows
it), so that an installed wheel names its source without a checkout. The metadata lives in
pyproject.toml; this file only adds that step."""

import os
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

COMMIT = Path("voxgate") / "COMMIT"
# `docker build --build-arg SOURCE_COMMIT=...`: a build context without .git names its commit.
COMMIT_VARIABLE = "SOURCE_COMMIT"


def recorded_commit() -> str:
    """$SOURCE_COMMIT, else what an unpacked sdist carries, else git's HEAD here."""
    if os.environ.get(COMMIT_VARIABLE):
        return os.environ[COMMIT_VARIABLE].strip()
    carried = Path("src") / COMMIT
    if carried.is_file():
        return carried.read_text(encoding="utf-8").strip()
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git from the PATH)
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class BuildWithCommit(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads the checkout, whose git knows the commit
        target = Path(self.build_lib) / COMMIT
        target.write_text(recorded_commit() + "\n", encoding="utf-8")


class SdistWithCommit(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "src" / COMMIT
        target.write_text(recorded_commit() + "\n", encoding="utf-8")


setup(cmdclass={"build_py": BuildWithCommit, "sdist": SdistWithCommit})
