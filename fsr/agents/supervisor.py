"""Agent processes: start them, watch them, and make sure none outlives the run.

Three guards against orphans (SPEC §4): each agent asks the kernel for SIGKILL when its parent
dies (``PR_SET_PDEATHSIG``) and exits at once if the parent is already gone; the runner stops
every agent in a ``finally``; and agents run in their own process group so a stray signal to the
terminal's group does not kill them behind the runner's back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Called first thing in an agent: be SIGKILLed when the runner dies, however it dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: the runner's finally block is the remaining guard
        pass
    if os.getppid() != parent_pid:  # the runner died before prctl took effect
        os._exit(1)


class Supervisor:
    def __init__(self, plan_path: Path, stderr_dir: Path) -> None:
        self.plan_path = plan_path
        self.stderr_dir = stderr_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, node_id: str) -> subprocess.Popen[bytes]:
        err = (self.stderr_dir / f"{node_id}.stderr").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "fsr.agents", str(self.plan_path), node_id, str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,
        )
        err.close()
        self.procs[node_id] = proc
        return proc

    def kill(self, node_id: str) -> tuple[int, float]:
        """SIGKILL an agent; returns its pid and the time of the kill() call."""
        proc = self.procs[node_id]
        ts = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return proc.pid, ts

    def alive(self, node_id: str) -> bool:
        proc = self.procs.get(node_id)
        return proc is not None and proc.poll() is None

    def stop_all(self, grace: float = 2.0) -> None:
        """SIGTERM everyone, then SIGKILL whoever is still there after `grace` seconds."""
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.time() + grace
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
