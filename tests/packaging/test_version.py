"""`voxgate --version` in a checkout: the package metadata's version (pyproject's, set per
release) and the commit git names, the build's record being absent there."""

import os
import subprocess
import sys

from tests.packaging.build import ROOT, checkout_commit, project_version


def test_the_version_is_the_release_and_the_commit_beside_it() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    done = subprocess.run(
        [sys.executable, "-m", "voxgate", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"voxgate {project_version()} (commit {checkout_commit()})\n"
    assert not (ROOT / "src" / "voxgate" / "COMMIT").exists(), "a build wrote into the checkout"
