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

Victims are drawn when a storm strikes (`fsr.injector.victims`), among the agents no fault
holds then (`FailStorm.holds`: down, stopped or cut off, from the strike to ``storm_end``).
Every storm is logged: ``storm_start`` (index, kind, targets, parameters, victims), one event
per victim at its signal (``kill`` / ``pause``, with the time of the ``kill()`` call that every
recovery metric is measured from) or one ``net_fault`` for the rule set, and ``storm_end`` when
the fault is lifted.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from functools import partial

from fsr import events as ev
from fsr.config.schedule import RELAY_KINDS, Storm
from fsr.injector.contracts import LinkFaults, NetworkControl, StormHost, Strike
from fsr.injector.victims import resolve_targets
from fsr.plan import RunPlan
from fsr.protocols import HUB_ID
from fsr.workload.shards import holders


class FailStorm:
    """The run's storms, from the plan's schedule: struck on the host's timers, the victims'
    processes signalled (and restarted through the host), network faults set and lifted."""

    def __init__(self, host: StormHost, plan: RunPlan, shards: dict[str, list[str]], seed: int,
                 network: NetworkControl | None = None, relay: LinkFaults | None = None
                 ) -> None:
        self.host = host
        self.agents = [a.node_id for a in plan.agents]
        self.index_of = {a.node_id: a.index for a in plan.agents}
        self.roles = {a.node_id: a.roles for a in plan.agents}
        self.hub = HUB_ID if HUB_ID in self.index_of else None  # struck only if a storm says
        self.holders = holders(shards)  # fid -> the agents that hold it
        self.hosts: dict[str, list[str]] = {}  # host -> its agents (one machine: "local")
        for a in plan.agents:
            self.hosts.setdefault(a.host, []).append(a.node_id)
        self.storms = plan.config.storms
        self.seed = seed
        self.network = network
        self.relay = relay
        self._held: set[str] = set()  # agents a fault holds now (down, stopped, cut off)

    def start(self, t0: float) -> None:
        """Put every storm on the host's timers (t0: the broadcast, the schedule's zero)."""
        for storm in self.storms:
            self.host.call_at(t0 + storm.at, partial(self.strike, storm))

    def holds(self, node_id: str) -> bool:
        """A fault holds the agent now (struck and not yet restarted, continued or healed)."""
        return node_id in self._held

    def strike(self, storm: Storm) -> None:
        free = [a for a in self.agents if a not in self._held]
        victims = resolve_targets(storm.targets, storm.index, self.agents, free, self.roles,
                                  self.holders, self.hosts, self.seed, self.hub)
        if not victims:  # nobody to strike (a fraction of 0, or every target already held)
            return
        strike = Strike(storm, victims)
        self.host.striking(strike)
        self._held |= set(victims)
        self.host.record(ev.STORM_START, storm=storm.index, fault=storm.kind, victims=victims,
                         at=storm.at, duration=storm.duration, percent=storm.percent,
                         targets=storm.targets.describe(), **storm.params)
        if storm.network:
            self._net_strike(storm, victims)
        else:
            self._process_strike(storm, victims)
        self.host.struck(strike)

    def _process_strike(self, storm: Storm, victims: list[str]) -> None:
        sig = signal.SIGSTOP if storm.kind == "pause" else signal.SIGKILL
        event = ev.FAULT_EVENTS[storm.kind]  # kill or pause
        # Signal every victim first, log after: "30 % at once" is one burst of kill() calls.
        hits, realtime = self.host.signal(victims, sig)
        for node_id, pid, ts in hits:
            self.host.record(event, storm=storm.index, victim=node_id, pid=pid,
                             kill_ts=round(ts, 6), signal=sig.name,
                             host=self.host.host_of(node_id))
        if len(hits) > 1:
            self.host.record(ev.STRIKE_SPREAD, storm=storm.index, victims=len(hits),
                             ms=round((hits[-1][2] - hits[0][2]) * 1000, 3), realtime=realtime)
        if storm.kind == "pause":
            assert storm.duration is not None
            self.host.call_later(storm.duration, lambda: self._resume(storm, victims))
        elif storm.duration is not None:
            self.host.call_later(storm.duration, lambda: self._restart(storm, victims))

    def _net_strike(self, storm: Storm, victims: list[str]) -> None:
        assert storm.duration is not None
        indexes = [self.index_of[v] for v in victims]
        ts = time.time()
        lift: Callable[[], object]
        if storm.kind in RELAY_KINDS:
            relay = self.relay
            assert relay is not None
            relay.start(storm.index, storm.kind, victims, f"{self.seed}/{storm.index}",
                        storm.percent or 0.0, **storm.params)
            lift = partial(relay.stop, victims)
        else:
            network = self.network
            assert network is not None
            if storm.kind == "partition":
                handle = network.partition(indexes)
            else:
                assert storm.percent is not None
                handle = network.loss(indexes, storm.percent)
            lift = partial(network.clear, handle)
        self.host.record(ev.NET_FAULT, storm=storm.index, fault=storm.kind, victims=victims,
                         kill_ts=round(ts, 6), percent=storm.percent)

        def heal() -> None:
            lift()
            self._end(storm, victims)

        self.host.call_later(storm.duration, heal)

    def _restart(self, storm: Storm, victims: list[str]) -> None:
        """One victim per loop turn: a spawn waits for the forkserver (tens of ms on a loaded
        machine), and 77 in a row would stall the runner's task feed for seconds."""
        pending = list(victims)

        def next_victim() -> None:
            node_id = pending.pop(0)
            pid = self.host.respawn(node_id)
            self.host.record(ev.RESTART, storm=storm.index, victim=node_id, pid=pid)
            if pending:
                self.host.call_later(0.0, next_victim)
            else:
                self._end(storm, victims)

        next_victim()

    def _resume(self, storm: Storm, victims: list[str]) -> None:
        hits, _ = self.host.signal(victims, signal.SIGCONT)
        for node_id, pid, ts in hits:
            self.host.record(ev.RESUME, storm=storm.index, victim=node_id, pid=pid,
                             resume_ts=round(ts, 6), host=self.host.host_of(node_id))
        self._end(storm, victims)

    def _end(self, storm: Storm, victims: list[str]) -> None:
        self._held -= set(victims)
        self.host.record(ev.STORM_END, storm=storm.index, fault=storm.kind, victims=victims)
