"""Process faults' signals on real processes: one burst, in the order given, timed per call."""

from __future__ import annotations

import os
import signal
import subprocess

from fsr.injector.process import realtime, signal_burst
from tests.injector.host import settles


def test_one_burst_stops_continues_and_kills() -> None:
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
    try:
        targets = [(f"agent_{i}", p.pid) for i, p in enumerate(procs)]
        hits, rt = signal_burst(targets, signal.SIGSTOP)
        assert [(a, pid) for a, pid, _ in hits] == targets
        assert [ts for _, _, ts in hits] == sorted(ts for _, _, ts in hits)
        assert isinstance(rt, bool)
        assert all(settles(p.pid, stopped=True) for p in procs)
        signal_burst(targets, signal.SIGCONT)
        assert all(settles(p.pid, stopped=False) for p in procs)
        signal_burst(targets, signal.SIGKILL)
        assert [p.wait(5) for p in procs] == [-9, -9, -9]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_realtime_restores_the_policy() -> None:
    before = os.sched_getscheduler(0)
    with realtime() as rt:
        assert (os.sched_getscheduler(0) == os.SCHED_FIFO) == rt
    assert os.sched_getscheduler(0) == before
