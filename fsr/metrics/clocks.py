"""A cluster run's clocks merged: every agent's events put on the runner's clock.

On a cluster run each host stamps its agents' events with its own wall clock, and the runner
(which logs the faults, the tasks and their ends) with its own. Before it spawns any agent, the
runner measures each host's clock against its own (`fsr.cluster.clock`, Cristian's algorithm)
and logs a ``clock_offset`` of phase ``start`` per host, right after ``run_start``; after the
agents stop, one of phase ``end``. `corrected` subtracts a host's start offset from the time of
every event its agents wrote, so the cross-host figures (an agent's time minus the runner's:
detection, let-go, recovery) subtract times of one clock. What the correction cannot remove is
bounded, per host, by the start offset's error plus the drift the end offset shows:
`clock_summary` reports it, and `fsr.metrics` puts it next to those figures (`uncertainty`).

A local run logs no ``clock_offset``: its events pass through untouched, the very same dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import r3
from fsr.metrics.history import History


def corrected(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The events, in their order, with the agents' times on the runner's clock: an event whose
    `node` is one of ``run_start``'s agents, on a host with a start offset, comes as a copy
    with that offset subtracted from its `ts`, to the µs (agents log no other unix time: their
    other times are durations). The runner's events, and those of agents on a host without an
    offset, are untouched.

    One pass, bounded memory, in file order or in time order. The start offsets are the ones
    logged before the run's first ``phase`` (startup: the runner logs it after measuring the
    clocks and before spawning any agent); the events up to it are held back, in their order:
    sorted by time, a host whose clock is behind can have its agents' first events come before
    the runner's offsets."""
    it = iter(events)
    held: list[dict[str, Any]] = []
    hosts: dict[str, Any] | None = None  # agent -> its host, from run_start
    offsets: dict[str, float] = {}  # host -> its start offset, s
    for e in it:
        held.append(e)
        if e["event"] == ev.RUN_START:
            hosts = {a["id"]: a.get("host") for a in e["agents"]}
        elif e["event"] == ev.CLOCK_OFFSET and e["phase"] == "start":
            offsets.setdefault(e["host"], e["offset_ms"] / 1000)
        elif e["event"] == ev.PHASE:
            break
    shift = {a: offsets[h] for a, h in (hosts or {}).items() if h in offsets}
    if not shift:  # a local run, or no host measured: the log as it is
        yield from held
        yield from it
        return
    for e in chain(held, it):
        by = shift.get(e["node"])
        yield e if by is None else {**e, "ts": round(e["ts"] - by, 6)}


def clock_summary(h: History) -> dict[str, Any] | None:
    """The clocks of a run's hosts, or None on a run with no ``clock_offset`` (a local run).
    Per host: its start offset, the one `corrected` applied (`offset_ms`, host clock − runner
    clock), that offset's `error_ms` (half its round trip), and `drift_ms`, its last end offset
    − its start offset (null without an end offset: a run cut off). `uncertainty_ms`: the most
    any corrected agent time can be off the runner's clock, the largest start error + |drift|
    over the hosts (a host without an end offset counts its start error alone); null if a host
    has an end offset but no start offset (its agents' times stayed on its own clock)."""
    start: dict[str, dict[str, Any]] = {}
    end: dict[str, dict[str, Any]] = {}
    started_up = False
    for e in h.of(ev.CLOCK_OFFSET, ev.PHASE):
        if e["event"] == ev.PHASE:
            started_up = True
        elif e["phase"] == "end":
            end[e["host"]] = e  # the last measured
        elif not started_up:
            start.setdefault(e["host"], e)
    if not start and not end:
        return None
    hosts: dict[str, dict[str, float | None]] = {}
    bounds: list[float | None] = []
    for host in sorted(start.keys() | end.keys()):
        first, last = start.get(host), end.get(host)
        drift = None if first is None or last is None else last["offset_ms"] - first["offset_ms"]
        hosts[host] = {"offset_ms": None if first is None else r3(first["offset_ms"]),
                       "error_ms": None if first is None else r3(first["error_ms"]),
                       "drift_ms": None if drift is None else r3(drift)}
        bounds.append(None if first is None else first["error_ms"] + abs(drift or 0.0))
    worst = None if None in bounds else max(b for b in bounds if b is not None)
    return {"hosts": hosts, "uncertainty_ms": None if worst is None else r3(worst)}


def uncertainty(clock: dict[str, Any] | None) -> dict[str, Any]:
    """What a cross-host figure's breakdown adds: `clock_uncertainty_ms`, on a run whose clocks
    were measured (`clock_summary`); nothing on a local run, whose metrics stay as they were."""
    return {} if clock is None else {"clock_uncertainty_ms": clock["uncertainty_ms"]}


__all__ = ["clock_summary", "corrected", "uncertainty"]
