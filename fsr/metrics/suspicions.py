"""False suspicions: how often the membership view suspected a peer no fault explains.

A failure detector trades detection speed against mistakes; this counts the mistakes, over the
whole run (start-up included). A `peer_suspected` is *false* unless

* a storm held the peer at that moment: from its fault time (kill, SIGSTOP, rules set) until it
  came back (`StormFacts.returns`) plus one nominal detection window
  (``heartbeat.interval x liveness``), or to the end when it never came back;
* or it names a restart (``how: new_incarnation``: the old process is gone, which is true);
* or a storm held the *observer* (a stopped or cut-off node finds every peer silent: those are
  counted apart, as `held_observer`).

Per agent-hour: the false ones over the agents x the hours from `run_start` to the last event.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fsr import events as ev
from fsr.metrics.history import History


def false_suspicions(h: History) -> dict[str, Any]:
    hb = h.config.get("heartbeat", {})
    grace = float(hb.get("interval", 1.0)) * int(hb.get("liveness", 3))
    held: dict[str, list[tuple[float, float]]] = {}
    for storm in h.storms:
        for node, since in storm.kills.items():
            back = storm.returns.get(node)
            held.setdefault(node, []).append((since, h.end if back is None else back + grace))

    def is_held(node: str, ts: float) -> bool:
        return any(a <= ts <= b for a, b in held.get(node, ()))

    false: list[dict[str, Any]] = []
    by_held_observer = 0
    for e in h.of(ev.PEER_SUSPECTED):
        if e.get("how") == "new_incarnation" or is_held(e["peer"], e["ts"]):
            continue
        if is_held(e["node"], e["ts"]):
            by_held_observer += 1
            continue
        false.append(e)
    start = next(e["ts"] for e in h.of(ev.RUN_START))
    hours = len(h.agents) * max(h.end - start, 1e-9) / 3600
    return {"n": len(false), "per_agent_hour": round(len(false) / hours, 3),
            "before_t0": sum(e["ts"] < h.t0 for e in false),
            "by_runner": sum(e["node"] == "runner" for e in false),
            "by_how": dict(sorted(Counter(str(e.get("how")) for e in false).items())),
            "held_observer": by_held_observer,
            "first": [{"node": e["node"], "peer": e["peer"], "how": e.get("how"),
                       "t_s": round(e["ts"] - h.t0, 3)} for e in false[:10]]}
