"""The fail storm: at `kill_at`, SIGKILL (or SIGSTOP) round(kill_fraction x N) agents at once;
restart (or continue) them.

Victims are drawn by ``random.Random(seed)`` so a seed names a storm. Each kill is logged with the
victim's id, pid and the time of the ``kill()`` call — the fault time every recovery metric is
measured from. A restart starts a fresh process of the same agent on the same ports; it then
re-registers with the runner and gets its shard back like any agent at start-up.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsr.agents.contracts import ProcessControl


def choose_victims(agent_ids: list[str], fraction: float, seed: int) -> list[str]:
    count = round(fraction * len(agent_ids))
    return sorted(random.Random(seed).sample(sorted(agent_ids), count))


class FailStorm:
    """One storm of `kind` kill (SIGKILL, then a restart after `restart_delay` unless never) or
    pause (SIGSTOP, then SIGCONT after `pause_duration`: a hung process that keeps its TCP
    connections open, which only a liveness design finds)."""

    def __init__(self, supervisor: ProcessControl, record: Callable[..., None],
                 call_later: Callable[[float, Callable[[], None]], None],
                 restart_delay: float | None, kind: str = "kill",
                 pause_duration: float = 10.0) -> None:
        self.supervisor = supervisor
        self.record = record
        self.call_later = call_later
        self.restart_delay = restart_delay
        self.kind = kind
        self.pause_duration = pause_duration
        self.victims: list[str] = []

    def strike(self, victims: list[str]) -> None:
        self.victims = victims
        sig = signal.SIGSTOP if self.kind == "pause" else signal.SIGKILL
        self.record("storm_start", victims=victims, fault=self.kind,
                    restart_delay=self.restart_delay if self.kind == "kill" else None,
                    pause_duration=self.pause_duration if self.kind == "pause" else None)
        # Signal every victim first, log after: "30 % at once" is one burst of kill() calls.
        hits = [(node_id, *self.supervisor.signal(node_id, sig)) for node_id in victims]
        for node_id, pid, ts in hits:
            self.record(self.kind, victim=node_id, pid=pid, kill_ts=round(ts, 6),
                        signal=sig.name)
        if len(hits) > 1:
            self.record("strike_spread", ms=round((hits[-1][2] - hits[0][2]) * 1000, 3),
                        victims=len(hits))
        if self.kind == "pause":
            self.call_later(self.pause_duration, self.resume)
        elif self.restart_delay is not None:
            self.call_later(self.restart_delay, self.restart)

    def restart(self) -> None:
        for node_id in self.victims:
            proc = self.supervisor.spawn(node_id)
            self.record("restart", victim=node_id, pid=proc.pid)

    def resume(self) -> None:
        for node_id in self.victims:
            pid, ts = self.supervisor.signal(node_id, signal.SIGCONT)
            self.record("resume", victim=node_id, pid=pid, resume_ts=round(ts, 6))
