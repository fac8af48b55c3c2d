"""Which topology ran, and what relaying across it cost (`fsr.bus.topology`).

From the log alone: the neighbours are in ``run_start`` (absent: a full mesh), each relay is a
``hop_relayed`` event, and each leg a ``hop_sent`` with ``relay`` whose frame is the ``send``
of the same message id (summed by the wire ledger, `fsr.metrics.ledger`).
"""

from __future__ import annotations

from typing import Any

from fsr import events as ev
from fsr.bus.topology import diameter
from fsr.metrics.history import History
from fsr.protocols import kinds


def topology(h: History) -> dict[str, Any]:
    sc = h.config["scenario"]
    agents = next(e["agents"] for e in h.of(ev.RUN_START))
    graph = {a["id"]: a.get("peers", [b["id"] for b in agents if b["id"] != a["id"]])
             for a in agents}
    relayed = h.of(ev.HOP_RELAYED)
    return {
        "kind": sc.get("topology", "full"),
        "degree": sc.get("degree") if sc.get("topology") == "random-k" else None,
        "links": sum(len(p) for p in graph.values()) // 2,
        "diameter": diameter(graph) if any(len(p) < len(graph) - 1 for p in graph.values())
        else min(1, len(graph) - 1),  # a full mesh: no need to search it
        # requests an agent passed on because no neighbour of the requester could answer them
        "relayed": {"stage": sum(e["kind"] == kinds.STAGE_REQUEST for e in relayed),
                    "lookup": sum(e["kind"] == kinds.LOOKUP for e in relayed)},
        "relay_request_wire": h.wire.relay_wire[0],
    }
