"""The fail storms: each storm of the schedule (`fsr.injector.schedule`) strikes its victims at
once and ends after its duration.

* ``kill``: SIGKILL; a fresh process of the same agent on the same ports after the duration
  (restart_delay; never: stays dead). It re-registers with the runner and gets its shard back.
* ``pause``: SIGSTOP, SIGCONT after the duration: a hung process that keeps its TCP connections
  open, which only a liveness design finds.
* ``partition`` / ``loss``: netfilter rules in the run's own network namespace
  (`fsr.injector.network`), removed after the duration.
* ``corrupt`` / ``delay``: the relay on the agents' links (`fsr.injector.relay`) flips bits in
  a share of the frames to the victims, or holds their links' bytes back, for the duration.

Victims are drawn with the seeded RNG (storm 0 with ``random.Random(seed)``, storm i with
``Random(f"{seed}/{i}")``), so a seed names a schedule. Every storm is logged: ``storm_start``
(index, kind, targets, parameters, victims), one event per victim at its signal (``kill`` /
``pause``, with the time of the ``kill()`` call that every recovery metric is measured from) or
one ``net_fault`` for the rule set, and ``storm_end`` when the fault is lifted.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from fsr.injector.schedule import RELAY_KINDS, Storm, Targets

if TYPE_CHECKING:
    from fsr.agents.contracts import ProcessControl


class NetworkControl(Protocol):
    """What the storms need of `fsr.injector.network.NetworkFaults`."""

    def partition(self, targets: list[int]) -> str: ...
    def loss(self, targets: list[int], percent: float) -> str: ...
    def clear(self, handle: str) -> object: ...


class LinkFaults(Protocol):
    """What the storms need of `fsr.injector.relay.LinkRelay`."""

    def start(self, storm: int, kind: str, nodes: list[str], seed: str, percent: float = 0.0,
              ms: float = 0.0, jitter: float = 0.0) -> None: ...
    def stop(self, nodes: list[str]) -> None: ...


def choose_victims(agent_ids: list[str], fraction: float, seed: int | str) -> list[str]:
    count = round(fraction * len(agent_ids))
    return sorted(random.Random(seed).sample(sorted(agent_ids), count))


def resolve_targets(targets: Targets, storm: int, agents: list[str], free: list[str],
                    roles: dict[str, list[str]], holders: dict[str, list[str]],
                    seed: int) -> list[str]:
    """The agents a storm strikes, among `free` (those no other fault holds now). A fraction
    is of the whole mesh, drawn among the free agents."""
    if targets.fraction is not None:
        count = min(round(targets.fraction * len(agents)), len(free))
        rng = random.Random(seed if storm == 0 else f"{seed}/{storm}")
        return sorted(rng.sample(sorted(free), count))
    if targets.ids:
        chosen = set(targets.ids)
    elif targets.role is not None:
        chosen = {a for a in agents if targets.role in roles.get(a, [])}
    else:
        chosen = set(holders.get(targets.holders_of or "", []))
    return sorted(chosen & set(free))


class FailStorm:
    def __init__(self, supervisor: ProcessControl, record: Callable[..., None],
                 call_later: Callable[[float, Callable[[], None]], None],
                 network: NetworkControl | None = None,
                 index_of: dict[str, int] | None = None,
                 relay: LinkFaults | None = None, seed: int = 0) -> None:
        self.supervisor = supervisor
        self.record = record
        self.call_later = call_later
        self.network = network
        self.index_of = index_of or {}
        self.relay = relay
        self.seed = seed
        self.held: set[str] = set()  # agents a fault holds now (down, stopped, cut off)

    def strike(self, storm: Storm, victims: list[str]) -> None:
        self.held |= set(victims)
        self.record("storm_start", storm=storm.index, fault=storm.kind, victims=victims,
                    at=storm.at, duration=storm.duration, percent=storm.percent,
                    targets=storm.targets.describe(), **storm.params)
        if storm.network:
            self._net_strike(storm, victims)
            return
        sig = signal.SIGSTOP if storm.kind == "pause" else signal.SIGKILL
        # Signal every victim first, log after: "30 % at once" is one burst of kill() calls.
        hits, realtime = self.supervisor.signal_all(victims, sig)
        for node_id, pid, ts in hits:
            self.record(storm.kind, storm=storm.index, victim=node_id, pid=pid,
                        kill_ts=round(ts, 6), signal=sig.name)
        if len(hits) > 1:
            self.record("strike_spread", storm=storm.index, victims=len(hits),
                        ms=round((hits[-1][2] - hits[0][2]) * 1000, 3), realtime=realtime)
        if storm.kind == "pause":
            assert storm.duration is not None
            self.call_later(storm.duration, lambda: self.resume(storm, victims))
        elif storm.duration is not None:
            self.call_later(storm.duration, lambda: self.restart(storm, victims))

    def _net_strike(self, storm: Storm, victims: list[str]) -> None:
        assert storm.duration is not None
        indexes = [self.index_of[v] for v in victims]
        ts = time.time()
        if storm.kind in RELAY_KINDS:
            assert self.relay is not None
            self.relay.start(storm.index, storm.kind, victims, f"{self.seed}/{storm.index}",
                             storm.percent or 0.0, **storm.params)
        else:
            assert self.network is not None
            if storm.kind == "partition":
                handle = self.network.partition(indexes)
            else:
                assert storm.percent is not None
                handle = self.network.loss(indexes, storm.percent)
        self.record("net_fault", storm=storm.index, fault=storm.kind, victims=victims,
                    kill_ts=round(ts, 6), percent=storm.percent)

        def heal() -> None:
            if storm.kind in RELAY_KINDS:
                self.relay.stop(victims)  # type: ignore[union-attr]
            else:
                self.network.clear(handle)  # type: ignore[union-attr]
            self._end(storm, victims)

        self.call_later(storm.duration, heal)

    def restart(self, storm: Storm, victims: list[str]) -> None:
        """One victim per loop turn: a spawn waits for the forkserver (tens of ms on a loaded
        machine), and 77 in a row would stall the runner's task feed for seconds."""
        pending = list(victims)

        def next_victim() -> None:
            node_id = pending.pop(0)
            proc = self.supervisor.spawn(node_id)
            self.record("restart", storm=storm.index, victim=node_id, pid=proc.pid)
            if pending:
                self.call_later(0.0, next_victim)
            else:
                self._end(storm, victims)

        next_victim()

    def resume(self, storm: Storm, victims: list[str]) -> None:
        hits, _ = self.supervisor.signal_all(victims, signal.SIGCONT)
        for node_id, pid, ts in hits:
            self.record("resume", storm=storm.index, victim=node_id, pid=pid,
                        resume_ts=round(ts, 6))
        self._end(storm, victims)

    def _end(self, storm: Storm, victims: list[str]) -> None:
        self.held -= set(victims)
        self.record("storm_end", storm=storm.index, fault=storm.kind, victims=victims)
