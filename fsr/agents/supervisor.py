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
from typing import Any, Protocol

from fsr.injector.contracts import NetworkControl
from fsr.injector.process import Hit, signal_burst

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
    # A Ray worker (a cluster host's controller) starts us with SIGINT blocked and, under a
    # backgrounded `ray start`, SIGINT/SIGQUIT ignored: start from a clean slate.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    os.setpriority(os.PRIO_PROCESS, 0, 0)  # every agent at the default, whoever forked it
    _release_forkserver()
    with contextlib.suppress(PermissionError):
        os.setsid()
    fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    # deferred into the agent's own process, once stderr is its file: an import error lands in
    # agent_<i>.stderr (the forkserver preloaded the agent code, so this costs nothing)
    from fsr.agents.agent import Agent
    from fsr.injector.network import join_fault_group
    from fsr.plan import RunPlan

    plan = RunPlan.load(plan_path)
    if plan.config.network_faults:
        # before any socket: the fault rules know an agent's packets by this group
        join_fault_group(plan.agent(node_id).index)
    agent = Agent(plan, node_id)

    def stop(*_: object) -> None:
        agent.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the runner, which stops us
    agent.run()
    os._exit(0)


class AgentsFailed(RuntimeError):
    """Whoever runs the agents could not do what the run asked (a cluster host's controller
    raised, e.g. iptables refused a rule): the run fails with this one line."""


class AgentProcesses(Protocol):
    """What the runner needs of whoever runs its agents: this machine's `Supervisor`, or a
    cluster's controllers (`fsr.cluster.engine.ClusterProcesses`)."""

    def spawn(self, node_id: str) -> int:
        """Start a process of the agent (a fresh one, same id and ports, on a restart); its pid."""
        ...

    def spawn_all(self, node_ids: list[str]) -> Iterator[tuple[str, int]]:
        """Start the first process of each agent: (agent, pid) as each is started."""
        ...

    def pid(self, node_id: str) -> int: ...
    def alive(self, node_id: str) -> bool: ...

    def signal(self, node_ids: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        """One burst of `sig` to these agents (`fsr.injector.process.signal_burst`); each hit's
        time on the runner's clock."""
        ...

    def begin(self) -> None:
        """The run's log is open and no agent started yet (a cluster reads its hosts' clocks)."""
        ...

    def describe(self) -> dict[str, Any] | None:
        """Where the agents run, for ``run_start`` (None: this machine)."""
        ...

    def network(self) -> NetworkControl | None:
        """Faults on links between hosts (a cluster's); None: this machine's own, if any."""
        ...

    def poll(self) -> None:
        """Called on every turn of the runner's loop (a cluster pulls its hosts' events)."""
        ...

    def stop_all(self) -> None:
        """Stop every agent (SIGTERM, then SIGKILL); a cluster also brings its hosts' last
        events home."""
        ...


class Supervisor:
    """This machine's agents, forked from one forkserver (`AgentProcesses`)."""

    def __init__(self, plan_path: Path, stderr_dir: Path) -> None:
        self.plan_path = plan_path
        self.stderr_dir = stderr_dir
        self.procs: dict[str, BaseProcess] = {}

    def spawn(self, node_id: str) -> int:
        old = self.procs.get(node_id)
        if old is not None:  # a restart: the killed process must be gone (ports released)
            old.join(5.0)
        proc = _CTX.Process(target=agent_main, name=node_id, args=(
            str(self.plan_path), node_id, str(self.stderr_dir / f"{node_id}.stderr")))
        proc.start()
        self.procs[node_id] = proc
        return self.pid(node_id)

    def spawn_all(self, node_ids: list[str]) -> Iterator[tuple[str, int]]:
        return ((n, self.spawn(n)) for n in node_ids)

    def pid(self, node_id: str) -> int:
        """The pid of the agent's current process (the injector signals it)."""
        pid = self.procs[node_id].pid
        assert pid is not None
        return pid

    def alive(self, node_id: str) -> bool:
        proc = self.procs.get(node_id)
        return proc is not None and proc.is_alive()

    def signal(self, node_ids: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        return signal_burst([(n, self.pid(n)) for n in node_ids], sig)

    def begin(self) -> None:
        """Nothing to measure: one machine, one clock."""

    def describe(self) -> dict[str, Any] | None:
        return None

    def network(self) -> NetworkControl | None:
        return None

    def poll(self) -> None:
        """Nothing to pull: this machine's agents write the run's log themselves."""

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
