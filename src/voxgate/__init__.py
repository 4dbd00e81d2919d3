"""voxgate: a self-hostable unified audio AI gateway."""

import subprocess
from importlib.metadata import version
from pathlib import Path

__version__ = version("voxgate")

# Written into the wheel by the build (setup.py); a source checkout has none and asks git.
COMMIT_FILE = Path(__file__).parent / "COMMIT"


def source_commit() -> str:
    """The commit this code was built from: the one the build recorded, else the checkout's
    HEAD, else 'unknown' (a tree from neither)."""
    if COMMIT_FILE.is_file():
        return COMMIT_FILE.read_text(encoding="utf-8").strip() or "unknown"
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git from the PATH)
            cwd=COMMIT_FILE.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()
