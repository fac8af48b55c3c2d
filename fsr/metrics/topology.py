"""Which topology ran, and what relaying across it cost (`fsr.agents.topology`).

From the log alone: the neighbours are in ``run_start`` (absent: a full mesh), each relay leg
is a ``hop_relayed`` event, and its request frame a ``send`` with the leg's message id.
"""

from __future__ import annotations

from typing import Any

from fsr.agents.topology import diameter
from fsr.metrics.history import History


def topology(h: History) -> dict[str, Any]:
    sc = h.config["scenario"]
    agents = next(e["agents"] for e in h.of("run_start"))
    graph = {a["id"]: a.get("peers", [b["id"] for b in agents if b["id"] != a["id"]])
             for a in agents}
    relayed = h.of("hop_relayed")
    legs = {e["mid"] for e in h.of("hop_sent") if e.get("relay")}
    wire = sum(e["wire"] for e in h.of("send") if e.get("mid") in legs)
    return {
        "kind": sc.get("topology", "full"),
        "degree": sc.get("degree") if sc.get("topology") == "random-k" else None,
        "links": sum(len(p) for p in graph.values()) // 2,
        "diameter": diameter(graph) if any(len(p) < len(graph) - 1 for p in graph.values())
        else min(1, len(graph) - 1),  # a full mesh: no need to search it
        # requests an agent passed on because no neighbour of the requester could answer them
        "relayed": {"stage": sum(e["kind"] == "stage_request" for e in relayed),
                    "lookup": sum(e["kind"] == "lookup" for e in relayed)},
        "relay_request_wire": wire,
    }
