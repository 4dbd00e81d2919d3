"""Builds voxgate's sdist from this checkout and its wheel from that sdist, as a release does,
offline: setuptools from the test environment (no build isolation, no index)."""

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS_AT_LEAST = (77,)  # pyproject's build-system: the PEP 639 license field
COMMIT_IN_PACKAGE = "voxgate/COMMIT"


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def checkout_commit() -> str:
    return git("rev-parse", "--short=12", "HEAD").strip()


def git(*arguments: str) -> str:
    done = subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout


def package_files_in_git() -> tuple[set[str], set[str]]:
    """Under src/voxgate, relative to src: the tracked files, and the untracked ones on disk
    that .gitignore does not hide (a new file not yet added also ships)."""
    tracked = git("ls-files", "src/voxgate").split()
    untracked = git("ls-files", "--others", "--exclude-standard", "src/voxgate").split()

    def relative(paths: list[str]) -> set[str]:
        return {path.removeprefix("src/") for path in paths if (ROOT / path).is_file()}

    return relative(tracked), relative(untracked)


def require_build_tools() -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import setuptools; print(setuptools.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    major = tuple(int(part) for part in found.split(".")[:1] if part.isdigit())
    assert major >= SETUPTOOLS_AT_LEAST, (
        f"setuptools {found or '(none)'} in {sys.prefix}; the build needs "
        f">={SETUPTOOLS_AT_LEAST[0]}: `scripts/bootstrap test` installs it (the test extra)"
    )


def clean_copy(target: Path) -> Path:
    """The checkout's files as git sees them (tracked, and untracked but not ignored): an
    egg-info an earlier build left in src/ would otherwise lend the sdist its file list. Git
    still answers there (GIT_DIR), as it does in the checkout."""
    for name in git("ls-files", "--cached", "--others", "--exclude-standard").splitlines():
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def build(target: Path) -> Built:
    require_build_tools()
    source = clean_copy(target / "checkout")
    backend = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    git_dir = git("rev-parse", "--absolute-git-dir").strip()
    done = run([sys.executable, "-c", backend, str(target)], source, {"GIT_DIR": git_dir})
    sdist = target / done.stdout.strip().splitlines()[-1]
    # The wheel from the sdist, as pip does for a source install: what the sdist lacks, it lacks.
    with tarfile.open(sdist) as archive:
        archive.extractall(target / "unpacked", filter="data")
    [unpacked] = (target / "unpacked").iterdir()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(target / "wheel"),
            str(unpacked),
        ],
        target,
    )
    [wheel] = (target / "wheel").glob("voxgate-*.whl")
    return Built(sdist, wheel)


def run(
    command: list[str], cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """With the commit left to the build to find (no SOURCE_COMMIT, no outside GIT_*)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "SOURCE_COMMIT" and not name.startswith("GIT_")
    }
    done = subprocess.run(
        command, cwd=cwd, env=env | (extra_env or {}), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (
        f"{command[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {member.name.split("/", 1)[1] for member in archive.getmembers() if member.isfile()}
