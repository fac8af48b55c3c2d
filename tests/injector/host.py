"""A stand-in for the runner (`fsr.injector.StormHost`): real processes to signal (`sleep`),
a fake clock with the runner's timer order, and every event and notice in one list."""

from __future__ import annotations

import heapq
import itertools
import signal
import subprocess
import time
from collections.abc import Callable

from fsr.config import from_dict, load_config, to_dict
from fsr.injector import Strike
from fsr.injector.process import Hit, signal_burst
from fsr.plan import RunPlan, build_agents


def plan_with(faults: list[dict[str, object]], agents: int = 8, seed: int = 5) -> RunPlan:
    config = from_dict({**to_dict(load_config(None, {
        "scenario.agent_count": agents, "scenario.seed": seed, "scenario.duration": 30})),
        "faults": faults})
    return RunPlan("test", "/nonexistent", "/nonexistent/log.jsonl", 9099,
                   build_agents(agents, 9100), config)


class Host:
    def __init__(self, plan: RunPlan) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []
        self.now = 0.0
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.procs = {a.node_id: self._process() for a in plan.agents}
        self.gone: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def _process() -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sleep", "60"])

    def record(self, event: str, **fields: object) -> None:
        self.events.append((event, fields))

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), fn))

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.call_at(self.now + delay, fn)

    def pid(self, node_id: str) -> int:
        return self.procs[node_id].pid

    def signal(self, victims: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        return signal_burst([(v, self.pid(v)) for v in victims], sig)

    def host_of(self, node_id: str) -> str:
        return "local"

    def respawn(self, node_id: str) -> int:
        old = self.procs[node_id]
        old.wait(5.0)  # as the supervisor does: the killed process is gone first
        self.gone.append(old)
        self.procs[node_id] = self._process()
        return self.procs[node_id].pid

    def striking(self, strike: Strike) -> None:
        self.events.append(("<striking>", {"victims": strike.victims,
                                           "takes_shards": strike.takes_shards}))

    def struck(self, strike: Strike) -> None:
        self.events.append(("<struck>", {"victims": strike.victims}))

    def run_until(self, until: float, between: Callable[[float], None] | None = None) -> None:
        """Fire the due timers in order; `between(t)` runs before each one."""
        while self._timers and self._timers[0][0] <= until:
            when, _, fn = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if between is not None:
                between(self.now)
            fn()
        self.now = until

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def close(self) -> None:
        for proc in [*self.procs.values(), *self.gone]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def state(pid: int) -> str:
    """The process's state letter (R, S, T stopped, Z zombie)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def settles(pid: int, stopped: bool, timeout: float = 5.0) -> bool:
    """The process is (or is no longer) stopped within `timeout` s: a signal is delivered
    when the kernel next schedules the process, not at the kill() call."""
    deadline = time.monotonic() + timeout
    while (state(pid) == "T") != stopped:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
