"""The `backend` fixture of the contract suite: every contract test runs once on the emulator and once on the real
Neutron (marked `neutron`: `-m "not neutron"` deselects those); backends.py says what each one is and how a test
leaves it as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.backends import Backend, emulator, neutron
from polling import poll


@pytest.fixture(params=["emulator", pytest.param("neutron", marks=[pytest.mark.neutron, pytest.mark.timeout(900)])])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The emulator, or the real Neutron; left as found: see the module docstring."""
    source = emulator() if request.param == "emulator" else neutron(request)
    with source as backend:
        backend.request = request
        before = backend.bindings()
        try:
            yield backend
        finally:
            backend.undo()
        # a delete takes its bindings in the same transaction: polled only to be safe from a late write
        poll(lambda: backend.bindings() == before, 10, "every agent's bindings as before the test",
             interval_s=0.2)

