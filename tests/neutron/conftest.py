"""The real-Neutron tier: one testbed for the whole session (about 2 min cold, 25 s with the venv cached).

The testbed (testbed.py) is built once, by the first test that needs it, and torn down at the end of the session,
also when tests failed: its session fixture `testbed` is in tests/conftest.py, shared with tests/contract/ (one
session, one testbed). When it cannot be built (no package registry, a Debian package missing) every test of the
tier FAILS with the reason: a proof that silently did not run is no proof. Deselect the tier with
`-m "not neutron"`.

Each test starts from a steady cloud (every agent alive in the API and in rpcdaemon's eyes, past the hold-down) and
leaves it so: agents a test paused are resumed in teardown, whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testbed import DHCP_TARGET, Rpcdaemon, Testbed, steady, wait_for


@pytest.fixture(scope="session")
def daemon(testbed: Testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rpcdaemon]:
    rpcd = Rpcdaemon(testbed, tmp_path_factory.mktemp("rpcdaemon"))
    checked = rpcd.check_config()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    try:
        rpcd.start()
        wait_for(lambda: all(len(testbed.dhcp_agents_of(n)) == DHCP_TARGET for n in testbed.networks), 90,
                 f"every base network on {DHCP_TARGET} DHCP agents", (rpcd.proc,) if rpcd.proc else ())
        yield rpcd
    finally:
        rpcd.stop()


@pytest.fixture
def cloud(testbed: Testbed, daemon: Rpcdaemon) -> Iterator[tuple[Testbed, Rpcdaemon]]:
    """A steady cloud before the test; every paused agent resumed (and the daemon running) after it."""
    steady(testbed, daemon)
    try:
        yield testbed, daemon
    finally:
        if daemon.proc is None or not daemon.proc.alive():
            daemon.start()
        steady(testbed, daemon)

