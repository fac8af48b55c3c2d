"""Fixtures of the protocol tests: `make_bus(protocol)` connects adapters in memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.protocols.fakebus import FakeBus


@pytest.fixture
def make_bus() -> Callable[[str], FakeBus]:
    return FakeBus
