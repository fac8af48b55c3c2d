"""The storm's moments on the scenario clock (seconds since t = 0), for the plots.

Pure functions over a `History` and the metrics `compute_metrics` made from the same log: the
report draws the same detections the detection checker counted, not a second reading of the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fsr import events as ev
from fsr.metrics.history import History


@dataclass(frozen=True)
class Detection:
    observer: str
    victim: str
    t: float  # seconds since t0
    how: str


@dataclass(frozen=True)
class StormMarks:
    victims: list[str]
    survivors: list[str]
    kills: dict[str, float]  # victim -> its kill() call
    detections: list[Detection]  # every (observer, victim) pair the detection checker counted
    restarts: dict[str, float]  # victim -> its first agent_started after the kill (process up)
    rejoins: dict[str, float]  # victim -> its first handshake_done with a non-victim after the kill
    fault: float | None  # first kill; None when no fault was injected
    window: tuple[float, float] | None  # the bytes_reconnect window, as the checker clamped it
    steady: float | None  # fault + steady_state_ms, when the run settled
    end_submit: float  # t0 + duration: submissions stop here
    # every storm: (strike, last victim back — restarted, continued, healed — or strike, kind)
    faults: tuple[tuple[float, float, str], ...] = ()


def natural(name: str) -> list[Any]:
    """Sort key that puts agent_6 before agent_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def storm_marks(h: History, metrics: dict[str, Any]) -> StormMarks:
    def rel(ts: float) -> float:
        return ts - h.t0

    victims = set(h.victims)
    kills = {v: rel(ts) for v, ts in h.kills.items()}
    det = metrics["details"]["detection"]
    detections = [Detection(p["observer"], p["victim"], kills[p["victim"]] + p["ms"] / 1000,
                            p["how"]) for p in det["pairs"]]
    restarts: dict[str, float] = {}
    for e in h.of(ev.AGENT_STARTED):
        if e["node"] in victims and e["ts"] > h.kills[e["node"]]:
            restarts.setdefault(e["node"], rel(e["ts"]))
    # Same predicate as the recovery checker (one side a victim, the other not), per victim:
    # recovery_ms is the earliest of these rejoins.
    rejoins: dict[str, float] = {}
    for e in h.of(ev.HANDSHAKE_DONE):
        for v, other in ((e["node"], e["peer"]), (e["peer"], e["node"])):
            if v in victims and other not in victims and e["ts"] > h.kills[v]:
                rejoins.setdefault(v, rel(e["ts"]))
    fault = rel(h.fault) if h.fault_injected else None
    window = None
    if fault is not None:
        window = (fault, fault + metrics["details"]["bytes_reconnect"]["window_s"])
    steady_ms = metrics["steady_state_ms"]
    return StormMarks(
        victims=sorted(h.victims, key=natural),
        survivors=[a for a in h.agents if a not in victims], kills=kills,
        detections=detections, restarts=restarts, rejoins=rejoins, fault=fault, window=window,
        steady=fault + steady_ms / 1000 if fault is not None and steady_ms is not None else None,
        end_submit=rel(h.end_submit),
        faults=tuple((rel(st.start), rel(max(st.returns.values(), default=st.start)), st.kind)
                     for st in h.storms),
    )
