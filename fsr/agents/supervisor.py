"""Agent processes: start them, watch them, and make sure none outlives the run.

Agents are forked from a multiprocessing *forkserver* that has already imported the agent code,
so starting 64 agents costs 64 forks rather than 64 interpreter start-ups (what we want to measure
is the protocol, not Python's import time). Each agent is still its own OS process with its own
PID, sockets and ports, killed with a real SIGKILL.

Guards against orphans (SPEC §4): each agent asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``) and exits at once if the parent is already gone; the forkserver exits
when the runner does (its lifeline pipe closes), which takes its children with it; the runner
stops every agent in a ``finally``; agents run in their own session, so the terminal's Ctrl-C
reaches only the runner, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from multiprocessing import forkserver
from multiprocessing.process import BaseProcess
from pathlib import Path
from signal import Signals

_PR_SET_PDEATHSIG = 1
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["fsr.agents.agent"])


def die_with_parent() -> None:
    """Called first thing in an agent: be SIGKILLed when the parent dies, however it dies."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0
        why = os.strerror(ctypes.get_errno()) if failed else ""
    except OSError as exc:  # no libc.so.6: not Linux
        failed, why = True, str(exc)
    if failed:
        # Without PDEATHSIG a crashed runner could leave this agent behind: refuse to run.
        os.write(2, f"fsr agent: prctl(PR_SET_PDEATHSIG) failed: {why}\n".encode())
        os._exit(3)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _release_forkserver() -> None:
    """Drop the forkserver's lifeline that multiprocessing hands every child.

    By design a forkserver lives while any child holds that pipe; we want the opposite order —
    the forkserver exits when the runner dies, and its exit SIGKILLs the agents (PDEATHSIG)."""
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


HARNESS_NICE = -10  # the runner and its forkserver, when the OS allows it; agents run at 0


def raise_harness_priority() -> int:
    """Give the runner (and the forkserver it starts next, which inherits it) nice -10 if
    permitted; returns the nice value it runs at. Under a loaded 256-agent mesh the forkserver
    got a 1/257 share of the CPU and each restart waited ~175 ms for it (77 restarts: 13 s),
    and the runner's task feed and kill() timestamps would lag the same way."""
    with contextlib.suppress(OSError):  # not root: the harness shares the CPU fairly
        os.setpriority(os.PRIO_PROCESS, 0, HARNESS_NICE)
    return os.getpriority(os.PRIO_PROCESS, 0)


def agent_main(plan_path: str, node_id: str, stderr_path: str) -> None:
    """The body of an agent process (also used by ``python -m fsr.agents``)."""
    die_with_parent()
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # every agent at the default, whoever forked it
    _release_forkserver()
    with contextlib.suppress(PermissionError):
        os.setsid()
    fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    from fsr.agents.agent import Agent
    from fsr.injector.network import join_fault_group
    from fsr.injector.schedule import has_network_faults
    from fsr.plan import RunPlan

    plan = RunPlan.load(plan_path)
    if has_network_faults(plan.config, [a.node_id for a in plan.agents]):
        # before any socket: the fault rules know an agent's packets by this group
        join_fault_group(plan.agent(node_id).index)
    agent = Agent(plan, node_id)

    def stop(*_: object) -> None:
        agent.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the runner, which stops us
    agent.run()
    os._exit(0)


@contextlib.contextmanager
def realtime() -> Iterator[bool]:
    """Run the block in SCHED_FIFO at the lowest real-time priority if the OS allows it
    (yields whether it does), then restore the thread's policy."""
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO,
                              os.sched_param(os.sched_get_priority_min(os.SCHED_FIFO)))
    except (OSError, AttributeError):  # not permitted (not root), or not Linux
        yield False
        return
    try:
        yield True
    finally:
        os.sched_setscheduler(0, policy, param)


class Supervisor:
    def __init__(self, plan_path: Path, stderr_dir: Path) -> None:
        self.plan_path = plan_path
        self.stderr_dir = stderr_dir
        self.procs: dict[str, BaseProcess] = {}

    def spawn(self, node_id: str) -> BaseProcess:
        old = self.procs.get(node_id)
        if old is not None:  # a restart: the killed process must be gone (ports released)
            old.join(5.0)
        proc = _CTX.Process(target=agent_main, name=node_id, args=(
            str(self.plan_path), node_id, str(self.stderr_dir / f"{node_id}.stderr")))
        proc.start()
        self.procs[node_id] = proc
        return proc

    def signal(self, node_id: str, sig: Signals) -> tuple[int, float]:
        """Send `sig` to an agent at once; returns its pid and the time of the kill() call.
        Nothing waits for the process: a storm signals every victim before any is reaped (the
        forkserver reaps them; `alive` polls)."""
        proc = self.procs[node_id]
        assert proc.pid is not None
        ts = time.time()
        os.kill(proc.pid, sig)
        return proc.pid, ts

    def signal_all(self, node_ids: list[str], sig: Signals
                   ) -> tuple[list[tuple[str, int, float]], bool]:
        """`signal` each agent in one burst: (agent, pid, kill() time) each, and whether the
        burst ran at real-time priority. SCHED_FIFO (when permitted; root here) keeps the
        scheduler from handing the CPU to the dying victims between two kill() calls — on a
        loaded 2-core machine that spread 77 kills over 420 ms."""
        with realtime() as rt:
            hits = [(node_id, *self.signal(node_id, sig)) for node_id in node_ids]
        return hits, rt

    def alive(self, node_id: str) -> bool:
        proc = self.procs.get(node_id)
        return proc is not None and proc.is_alive()

    def stop_all(self, grace: float = 2.0) -> None:
        """SIGTERM everyone, then SIGKILL whoever is still there after `grace` seconds."""
        live = [p for p in self.procs.values() if p.is_alive()]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
                if proc.pid:  # a paused agent must run to see its SIGTERM
                    os.kill(proc.pid, signal.SIGCONT)
        deadline = time.time() + grace
        for proc in live:
            proc.join(max(0.0, deadline - time.time()))
            if proc.is_alive():
                proc.kill()
                proc.join()
