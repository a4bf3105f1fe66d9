"""The Keystone tier: rpcdaemon against a real Keystone 30 and a Neutron 29 that validates its tokens.

One Keystone-backed testbed (keystone.py) for the tier's module, built by its first test and torn down after its
last, also when tests failed: every process stopped by PID. It is its own testbed, not the session `testbed` of
tests/conftest.py (that Neutron is noauth), and it is gone before the tiers that run after it start. When it cannot
be built (no package registry, a Debian package missing) every test of the tier FAILS with the reason. Deselect the
tier with `-m "not keystone"`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testbed import Topology, built_or_fail

from keystone import KeystoneTestbed

ROUTERS_PER_AGENT = 2
NETWORKS = 2


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "keystone: against a real Keystone 30 and Neutron 29 built by the tests "
                                       "(deselect with -m 'not keystone')")


@pytest.fixture(scope="module")
def ks_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneTestbed]:
    bed = KeystoneTestbed(Topology(), base=tmp_path_factory.mktemp("keystone-neutron"))
    built_or_fail(bed, "Keystone testbed")
    print(f"\nkeystone testbed built: { {k: round(v, 1) for k, v in bed.timings.items()} }")
    try:
        bed.networks = [bed.create_network(f"ks-{i}", f"10.40.{i}.0/24")[0] for i in range(NETWORKS)]
        bed.routers = [bed.create_router(f"ks-{agent.host}-{i}", on_agent=agent.id)
                       for agent in bed.agents_of("l3") for i in range(ROUTERS_PER_AGENT)]
        yield bed
    finally:
        bed.close()
