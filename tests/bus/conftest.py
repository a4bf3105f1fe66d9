"""A real RabbitMQ for the bus tests: one per session, plus a private one for the restart test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rabbit import Rabbit


def running_broker() -> Iterator[Rabbit]:
    broker = Rabbit()
    broker.start()
    try:
        yield broker
    finally:
        broker.cleanup()


rabbit = pytest.fixture(scope="session", name="rabbit")(running_broker)
own_rabbit = pytest.fixture(name="own_rabbit")(running_broker)
