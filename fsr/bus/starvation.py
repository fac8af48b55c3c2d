"""How long this process waited for a CPU: the observer's own starvation, which
``heartbeat.starvation_guard`` keeps from being blamed on its peers (`fsr.bus.heartbeat`).

An observer that is starved of CPU reads its peers' heartbeats late — or its ZeroMQ I/O thread
moves them from the kernel late — and a deadline then passes for every peer at once, though all
of them beat on time. Measured here: the false suspicions of a CPU-starved run are its busiest
observer's (docs/benchmarks.md). Cassandra guards against its own pauses
(apache/cassandra ``src/java/org/apache/cassandra/gms/FailureDetector.java``, ``interpret``:
"Not marking nodes down due to local pause", when the gap between two interpretations passes
``cassandra.max_local_pause_in_ms``, 5000 ms, it convicts no one for that long). fsr's loop has no
fixed cadence whose gap would show a pause, so it reads the pause where the kernel counts it:
``run_delay``, the second field of ``/proc/<pid>/task/<tid>/schedstat`` (Documentation/
scheduler/sched-stats.rst: time spent waiting on a run queue, in ns), of the loop's thread and of
libzmq's I/O threads (``ZMQbg/IO/*``), taking the larger (they wait together; their sum would
count one pause twice). A SIGSTOPped process waits on no run queue: a stop is a fault, not
starvation, and is not excused.

Off Linux (no schedstat) the clock stands still and the guard excuses nothing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Protocol

TASKS = "/proc/self/task"
IO_THREAD = "ZMQbg/IO/"  # libzmq's name for its I/O threads (as libzmq 4.3.5 names them)


class WaitClock(Protocol):
    def waited(self) -> float: ...


class RunQueueClock:
    """Seconds the watched threads have spent runnable but not running, since they started."""

    def __init__(self) -> None:
        self.loop_tid = threading.get_native_id()  # built on the loop's thread
        self._fds: list[int] | None = None  # opened on first read, once libzmq's threads exist

    def _open(self) -> list[int]:
        fds = []
        try:
            tids = [self.loop_tid] + [int(t) for t in os.listdir(TASKS)
                                      if int(t) != self.loop_tid and _comm(t).startswith(IO_THREAD)]
            for tid in tids:
                fds.append(os.open(f"{TASKS}/{tid}/schedstat", os.O_RDONLY))
        except OSError:
            pass  # no /proc, or a thread that ended: watch what could be opened
        return fds

    def waited(self) -> float:
        if self._fds is None:
            self._fds = self._open()
        most = 0
        for fd in self._fds:
            with contextlib.suppress(OSError, ValueError, IndexError):
                most = max(most, int(os.pread(fd, 128, 0).split()[1]))
        return most / 1e9

    def close(self) -> None:
        for fd in self._fds or []:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []


def _comm(tid: str) -> str:
    try:
        with open(f"{TASKS}/{tid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""
