"""The starvation guard (`fsr.bus.starvation`, ``heartbeat.starvation_guard``): the time the
observer itself waited for a CPU since a peer's last heartbeat moves the peer's deadline, once;
and the run-queue clock it reads is the kernel's, which grows when the process is starved."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fsr.bus.heartbeat import HeartbeatMonitor
from fsr.bus.starvation import RunQueueClock
from fsr.protocols.base import Heartbeat
from fsr.protocols.peers import PeerTable


class Waited:
    """A stand-in run-queue clock: seconds waited, set by the test."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def waited(self) -> float:
        return self.seconds


def monitor(guard: Waited | None) -> HeartbeatMonitor:
    m = HeartbeatMonitor(1.0, 3, PeerTable("me"), guard=guard)
    m.seen(Heartbeat("b", "inc", 1), now=100.0)  # deadline 103
    return m


def test_without_the_guard_the_deadline_is_the_deadline() -> None:
    m = monitor(None)
    assert [p for p, _ in m.check(103.5)] == ["b"] and m.deferred == []


def test_the_observers_own_wait_moves_the_deadline_once() -> None:
    clock = Waited()
    m = monitor(clock)
    clock.seconds = 1.0  # this node waited 1 s for a CPU since b's heartbeat
    assert m.check(103.5) == [] and m.deferred == [("b", 1.0)]
    assert m.peers["b"].deadline == 104.0
    m.deferred.clear()
    # the same wait is not excused twice: past 104 b is suspected, silent since 100
    assert m.check(104.1) == [("b", pytest.approx(4.1))] and m.deferred == []


def test_more_waiting_moves_it_again_and_a_heartbeat_starts_over() -> None:
    clock = Waited()
    m = monitor(clock)
    clock.seconds = 0.5
    assert m.check(103.2) == []
    clock.seconds = 1.5  # another second of starvation since
    assert m.check(103.6) == [] and m.peers["b"].deadline == pytest.approx(104.5)
    m.seen(Heartbeat("b", "inc", 2), now=103.7)  # deadline 106.7, the clock read anew
    assert m.peers["b"].excused == 0.0 and m.peers["b"].queued_at_seen == 1.5
    assert m.check(106.8) == [("b", pytest.approx(3.1))]


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux schedstat")
def test_the_run_queue_clock_grows_when_the_process_is_starved() -> None:
    clock = RunQueueClock()
    before = clock.waited()
    n = 2 * (os.cpu_count() or 1)
    busy = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(n)]
    try:
        end = time.time() + 1.0
        while time.time() < end:  # runnable all along, among 2 x cores busy processes
            pass
    finally:
        for h in hogs:
            h.wait()
    # with 2 x cores + 1 runnable processes this thread waited a good part of its second
    assert clock.waited() - before > 0.1
    clock.close()
