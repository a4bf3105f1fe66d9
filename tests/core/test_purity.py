"""The core stays pure: no I/O, no clock, no logging (the import-linter contract checks third-party imports)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "rpcdaemon"
FORBIDDEN = {
    "os", "io", "time", "datetime", "socket", "http", "urllib", "threading", "asyncio", "subprocess", "logging",
    "random", "requests", "openstack", "keystoneauth1", "kombu", "tooz", "prometheus_client", "pathlib", "shutil",
    "rpcdaemon.adapters", "rpcdaemon.daemon", "rpcdaemon.cli", "rpcdaemon.config", "rpcdaemon.emulator", "testkit",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_that_does_io_or_reads_a_clock() -> None:
    files = [*sorted((SRC / "core").glob("*.py")), SRC / "model.py"]
    assert len(files) > 5
    for path in files:
        for name in imported_modules(path):
            for bad in FORBIDDEN:
                assert name != bad, f"{path.name} imports {name}"
                assert not name.startswith(bad + "."), f"{path.name} imports {name}"
