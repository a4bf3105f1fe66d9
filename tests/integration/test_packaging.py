"""The package as a user gets it (issue 13): an sdist and a wheel build, the wheel installs, and the command runs.

`python -m build --no-isolation` builds the sdist and then the wheel from that sdist, with the setuptools and
build of the test environment (the `test` extra requires both, setuptools >= 77 for the SPDX `license` string):
no download, a few seconds. The source is copied first, so that the build writes nothing into the worktree.

The wheel goes into a fresh venv with `pip install --no-deps --no-index`: `rpcdaemon --version` and
`rpcdaemon sample-config` import nothing outside the standard library (the subcommands import what they need:
cli/main.py), so the installed command proves the wheel holds the package, its entry point and its data without
installing openstacksdk and the rest; the test would fail if either started importing a third-party module.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

from rpcdaemon import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_sdist_and_wheel_build_and_the_installed_command_runs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "License classifiers are deprecated" not in built.stdout + built.stderr
    assert "`project.license` as a TOML table is deprecated" not in built.stdout + built.stderr
    (sdist,) = dist.glob("rpcdaemon-*.tar.gz")
    (wheel,) = dist.glob("rpcdaemon-*-py3-none-any.whl")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "src/rpcdaemon/cli/main.py"} <= names
    with zipfile.ZipFile(wheel) as whl:
        metadata = whl.read(f"rpcdaemon-{__version__}.dist-info/METADATA").decode()
        assert {"rpcdaemon/py.typed", "rpcdaemon/adapters/status/dashboard.html"} <= set(whl.namelist())
    assert "License-Expression: Apache-2.0" in metadata.splitlines()

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--no-index", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300,
                               check=False)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    command = target / "bin" / "rpcdaemon"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert (version.returncode, version.stdout.strip()) == (0, f"rpcdaemon {__version__}"), version.stderr
    sample = subprocess.run([str(command), "sample-config"], capture_output=True, text=True, timeout=60, check=False)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout == (ROOT / "etc" / "rpcdaemon.conf.sample").read_text()
