"""The fail storm: at `kill_at`, SIGKILL round(kill_fraction x N) agents at once; restart them.

Victims are drawn by ``random.Random(seed)`` so a seed names a storm. Each kill is logged with the
victim's id, pid and the time of the ``kill()`` call — the fault time every recovery metric is
measured from. A restart starts a fresh process of the same agent on the same ports; it then
re-registers with the runner and gets its shard back like any agent at start-up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def choose_victims(agent_ids: list[str], fraction: float, seed: int) -> list[str]:
    count = round(fraction * len(agent_ids))
    return sorted(random.Random(seed).sample(sorted(agent_ids), count))


class FailStorm:
    def __init__(self, supervisor: Any, record: Callable[..., None],
                 call_later: Callable[[float, Callable[[], None]], None],
                 restart_delay: float | None) -> None:
        self.supervisor = supervisor
        self.record = record
        self.call_later = call_later
        self.restart_delay = restart_delay
        self.victims: list[str] = []

    def strike(self, victims: list[str]) -> None:
        self.victims = victims
        self.record("storm_start", victims=victims, restart_delay=self.restart_delay)
        for node_id in victims:
            pid, ts = self.supervisor.kill(node_id)
            self.record("kill", victim=node_id, pid=pid, kill_ts=round(ts, 6), signal="SIGKILL")
        if self.restart_delay is not None:
            self.call_later(self.restart_delay, self.restart)

    def restart(self) -> None:
        for node_id in self.victims:
            proc = self.supervisor.spawn(node_id)
            self.record("restart", victim=node_id, pid=proc.pid)
