"""What more than one tier shares: the real-Neutron testbed, built once per session.

tests/neutron/ (the real-Neutron tier) and tests/contract/ (the emulator and the real Neutron asked the same
questions) both use the session `testbed` fixture: it lives here so that one session builds one testbed, whichever
tiers it runs. tests/neutron/ holds the testbed's modules (testbed.py, procstat.py, fake_agent.py), imported by
their plain names as that tier's tests do, so that folder is put on the path here (after tests/, which pytest's
pythonpath setting puts first).

The testbed is built by the first test that needs it and torn down at the end of the session, also when tests
failed. When it cannot be built (no package registry, a Debian package missing) every test that needs it FAILS with
the reason: a proof that silently did not run is no proof. Deselect those tests with `-m "not neutron"`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis draws new random clouds on every run at a desk (that is how the property tests find what nobody
# imagined), but the same ones in CI (.ci/run sets HYPOTHESIS_PROFILE=ci): a verdict on a change must not depend
# on the luck of the draw. What a desk run finds becomes a test of its own (as stop 18's CI find did).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

NEUTRON_DIR = str(Path(__file__).with_name("neutron"))
if NEUTRON_DIR not in sys.path:
    sys.path.append(NEUTRON_DIR)

from testbed import Testbed, Topology, built_or_fail  # noqa: E402  (needs the path above)

NETWORKS = 4
ROUTERS_PER_AGENT = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "neutron: against a real Neutron 29 built by the tests (deselect with "
                                       "-m 'not neutron')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers that need a real Neutron run last (tests/keystone with its own, then tests/contract and
    tests/neutron on the session's), so no testbed (MariaDB, RabbitMQ, the API, agents heartbeating) is up beside
    the other tiers' timing-sensitive tests, and the contract tests run before tests/neutron's session daemon
    starts acting on the cloud."""
    tests = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        path = Path(str(item.fspath))
        tier = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        return {"keystone": 1, "contract": 2, "neutron": 3}.get(tier, 0)

    items.sort(key=rank)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    bed = Testbed(Topology(), base=tmp_path_factory.mktemp("neutron"))
    built_or_fail(bed, "real-Neutron testbed")
    if os.environ.get("RPCD_TIMINGS"):
        print(f"\ntestbed built: {bed.timings}")
    try:
        populate(bed)
        yield bed
    finally:
        bed.close()


def populate(bed: Testbed) -> None:
    """Networks with DHCP subnets (the server puts each on one agent) and routers placed evenly on the L3 agents."""
    bed.networks = [bed.create_network(f"base-{i}", f"10.10.{i}.0/24")[0] for i in range(NETWORKS)]
    bed.routers = [bed.create_router(f"base-{agent.host}-{i}", on_agent=agent.id)
                   for agent in bed.agents_of("l3") for i in range(ROUTERS_PER_AGENT)]
