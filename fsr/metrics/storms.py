"""Per-storm metrics: the storm checkers over each storm's view of the history, and each figure
over all storms.

A run with several storms (``--storms``, or a ``faults:`` schedule) reports its headline figures
for the first storm; ``storms`` lists, per storm, the same checkers run on that storm's view
(`fsr.metrics.history.storm_view`: its own fault time and victims, the log cut where the next
storm strikes, the pre-fault baseline of the whole run), and ``storms_overall`` sums them up.
"""

from __future__ import annotations

from typing import Any

from fsr import events as ev
from fsr.metrics import checkers as c
from fsr.metrics.history import History, storm_view

PER_STORM = ("detection_p50_ms", "detection_max_ms", "recovery_ms", "rejoin_p50_ms",
             "failover_ms", "bytes_window", "success_post", "success_rate_drop",
             "steady_state_ms")


def storm_metrics(h: History) -> list[dict[str, Any]]:
    """Per storm, in strike order: its kind, strike time `t_s`, victims and window (strike to
    the next storm, or to the end of work), and the storm checkers over its view of the
    history: detection p50/max/n, recovery, rejoin p50, failover, the wire bytes of its window
    (`bytes_window`: the bytes_reconnect window, cut at the next storm), the success rate of the
    tasks submitted in its window (`success_post`, `post_n`) and its drop from the run's
    pre-fault baseline, and its steady state with its reason; a corrupt storm adds
    `corruption`."""
    out = []
    for position, s in enumerate(h.storms):
        v = storm_view(h, position)
        det, drop, join = c.detection(v), c.success_rate_drop(v), c.rejoin(v)
        steady = c.steady_state(v)
        out.append({
            "index": s.index, "kind": s.kind, "t_s": c.r3(s.start - h.t0),
            "victims": sorted(s.kills), "window_s": c.r3(v.end_submit - s.start),
            "detection_p50_ms": det["p50_ms"], "detection_max_ms": det["max_ms"],
            "detection_n": det["n"], "recovery_ms": c.recovery(v)["value"],
            "rejoin_p50_ms": join["rejoin"]["p50_ms"], "failover_ms": c.failover(v)["value"],
            "bytes_window": c.bytes_reconnect(v)["value"],
            "success_post": drop["post"]["success_rate"], "post_n": drop["post"]["n"],
            "success_rate_drop": drop["value"],
            "steady_state_ms": steady["value"], "steady_reason": steady.get("reason"),
            **({"corruption": corruption(v, s.index)} if s.kind == "corrupt" else {}),
        })
    return out


def corruption(v: History, storm: int) -> dict[str, int]:
    """A corrupt storm: `flipped` — frames the relay changed (`corrupt_frame`); `rejected` —
    frames the victims dropped in the storm's view (`frame_dropped`: a failed CRC, a frame that
    no longer decodes); `delivered` — flipped − rejected, the changed frames the application
    took as valid."""
    flipped = sum(e["storm"] == storm for e in v.of(ev.CORRUPT_FRAME))
    rejected = sum(e["node"] in v.kills and e["ts"] >= v.fault for e in v.of(ev.FRAME_DROPPED))
    return {"flipped": flipped, "rejected": rejected, "delivered": max(0, flipped - rejected)}


def overall(storms: list[dict[str, Any]]) -> dict[str, Any]:
    """Each per-storm figure over the storms that have it (a null is left out; a settling time
    only from the storms that disturbed the run and settled): mean, min, max and n."""
    out: dict[str, Any] = {}
    for key in PER_STORM:
        vals = [s[key] for s in storms if s[key] is not None
                and (key != "steady_state_ms" or s.get("steady_reason") == "recovered")]
        out[key] = {"mean": c.r3(sum(vals) / len(vals)) if vals else None,
                    "min": min(vals) if vals else None, "max": max(vals) if vals else None,
                    "n": len(vals)}
    return out


__all__ = ["PER_STORM", "overall", "storm_metrics"]
