"""A real RabbitMQ for the bus tests: one per session, plus a private one for the restart test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rabbit import Rabbit


@pytest.fixture(scope="session")
def rabbit() -> Iterator[Rabbit]:
    broker = Rabbit()
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def own_rabbit() -> Iterator[Rabbit]:
    broker = Rabbit()
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()
