"""The load the mesh ran at: the work slots' occupancy, measured from the log.

Each unit of work in a slot is logged when a slot takes it (``work_start``) and when it ends
(``stage_done`` for a stage, ``lookup_done`` for a lookup), so how busy the slots were is a
sum of logged intervals — the planned figure (``run_start``'s `load`) is shown beside it,
never used for it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import r3
from fsr.metrics.history import History


def busy_intervals(h: History) -> dict[str, list[tuple[float, float]]]:
    """Per agent, the (start, end) of each unit of work that ran in a slot: a ``work_start``
    matched with the first later ``stage_done`` / ``lookup_done`` of the same (node, task,
    kind)."""
    opened: dict[tuple[str, Any, str], list[float]] = defaultdict(list)
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for e in h.of(ev.WORK_START, ev.STAGE_DONE, ev.LOOKUP_DONE):
        kind = "lookup" if e["event"] == ev.LOOKUP_DONE else e.get("stage")
        key = (e["node"], e.get("task"), str(kind))
        if e["event"] == ev.WORK_START:
            opened[key].append(e["ts"])
        elif opened.get(key):
            out[e["node"]].append((opened[key].pop(0), e["ts"]))
    return out


def load(h: History) -> dict[str, Any]:
    """`utilisation`: the share of the agents' work slots busy over the pre-fault work phase
    [t0, fault) — the busy time of the work that ran in slots (`busy_intervals`, clipped to the
    period), over agents x `workload.slots` x its length — as the mean over agents and the
    busiest agent's. `planned`: what the run was set up for (``run_start``'s `load`: task rate,
    capacity, target utilisation). Null when no work ran in slots (no service time)."""
    start = next(e for e in h.events if e["event"] == ev.RUN_START)
    planned = start.get("load")
    slots = int(h.config["workload"].get("slots", 1))
    span = h.baseline_end - h.t0
    per = busy_intervals(h)
    if not per or span <= 0:
        return {"utilisation": None, "busiest": None, "planned": planned,
                "reason": "no work ran in slots (no service time)"}
    share = {agent: sum(max(0.0, min(end, h.baseline_end) - max(begin, h.t0))
                        for begin, end in spans) / (slots * span)
             for agent, spans in per.items()}
    mean = sum(share.get(a, 0.0) for a in h.agents) / len(h.agents)
    return {"utilisation": r3(mean), "busiest": r3(max(share.values())), "planned": planned,
            "window": "[t0, fault)"}
