"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq


@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context]:
    """A ZeroMQ context of the test's own, destroyed after it: never the process-wide
    `Context.instance()`, so no test's sockets (or a stuck I/O thread) can reach the next."""
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture(scope="session")
def network_faults() -> None:
    """Skips the test where network faults cannot run (no root, no iptables-legacy)."""
    from tests.helpers import network_faults_unavailable  # only where a test asks for it

    reason = network_faults_unavailable()
    if reason:
        pytest.skip(reason)
