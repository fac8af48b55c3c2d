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
