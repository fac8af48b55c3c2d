"""Metrics: pure functions from a run's event log to ``failstorm_metrics.json``.

`compute_metrics(events)` is the only producer of the metrics file — the run calls it on its own
log after every process has stopped (`log_metrics`), and `fsr replay` calls it on the same log, so
the two files are byte-identical. Nothing here reads a clock, sleeps or talks to a process. The
log is streamed, in bounded memory: `fsr.metrics.history` keeps only what the checkers read. On
a cluster run the agents' times are first put on the runner's clock (`fsr.metrics.clocks`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fsr import events as ev
from fsr.config.schema import BY_ROLE, protocol_label
from fsr.eventlog import LogEvents
from fsr.metrics import checkers as c
from fsr.metrics.clocks import clock_summary, corrected, uncertainty
from fsr.metrics.history import History, build_history, storm_view
from fsr.metrics.inflight import detection_split, inflight
from fsr.metrics.llm import llm_usage
from fsr.metrics.load import load
from fsr.metrics.overhead import overhead
from fsr.metrics.reconnect import reconnect
from fsr.metrics.storms import overall, storm_metrics
from fsr.metrics.suspicions import false_suspicions
from fsr.metrics.topology import topology

SCHEMA = "fsr.failstorm_metrics/1"


def log_metrics(path: str | Path) -> tuple[History, dict[str, Any], LogEvents]:
    """A log file's history and metrics, in one streaming pass; the `LogEvents` tells how many
    events were read and lines skipped."""
    events = LogEvents(path)
    whole = build_history(corrected(events))
    return whole, compute_metrics(whole, events.unreadable), events


def compute_metrics(log: Iterable[dict[str, Any]] | History,
                    unreadable_lines: int = 0) -> dict[str, Any]:
    """The metrics of a run's events (in file or time order), or of the `History` built from
    them (and `corrected`, as `log_metrics` does)."""
    whole = log if isinstance(log, History) else build_history(corrected(log))
    clock = clock_summary(whole)
    # the figures that subtract a runner's time from an agent's carry how far apart the two
    # clocks may still be (nothing on a local run: one clock)
    unsure = uncertainty(clock)
    # the headline storm figures are the first storm's, cut where the next one strikes
    h = storm_view(whole, 0) if whole.storms else whole
    sc = h.config["scenario"]
    drop = c.success_rate_drop(h)
    rec = c.recovery(h)
    steady = c.steady_state(h)
    recon = c.bytes_reconnect(h)
    dup = c.duplicate_work(whole)
    det = c.detection(h)
    det = {**det, **detection_split(h, det["pairs"]), "membership": c.membership(h)}
    caught = inflight(h)
    rejoin = c.rejoin(h)
    storms = storm_metrics(whole)
    fail = c.failover(h)
    return {
        "schema": SCHEMA,
        "run_id": next(e["run_id"] for e in whole.events if e["event"] == ev.RUN_START),
        "protocol": protocol_label(sc["protocol"],
                                   (h.config.get("protocols") or {}).get(BY_ROLE) or {}),
        "agent_count": sc["agent_count"],
        "seed": sc["seed"],
        "topology": topology(whole),
        "partial": whole.partial or unreadable_lines > 0,
        "notes": whole.notes + ([f"{unreadable_lines} unreadable log line(s) skipped"]
                            if unreadable_lines else []),
        "fault": {"injected": h.fault_injected, "t_s": c.r3(h.fault - h.t0),
                  "victims": h.victims,
                  "kind": h.storms[0].kind if h.storms else sc.get("fault", "kill"),
                  "storms": len(h.storms),
                  "restart_delay_s": sc["restart_delay"],
                  "failure_handling": sc.get("failure_handling", "native"),
                  "failure_scale": sc.get("failure_scale", 1.0),
                  "security": sc.get("security", "none")},
        # the headline figures above and below are the first storm's; each storm's are here
        "storms": storms,
        "storms_overall": overall(storms),
        # the five metrics of the spec
        "recovery_ms": rec["value"],
        "steady_state_ms": steady["value"],
        "bytes_reconnect": recon["value"],
        "success_rate_drop": drop["value"],
        "duplicate_work_ratio": dup["value"],
        # and what they are made of
        "detection_ms": {k: det[k] for k in ("p50_ms", "max_ms", "n")},
        "rejoin_ms": rejoin["rejoin"],
        "failover_ms": fail["value"],
        # the work the storm caught in flight, and what became of it
        "inflight": {k: v for k, v in caught.items() if k != "hops"},
        # the restart wave: the handshakes' peak rate, and the mesh mended
        "reconnect": reconnect(h),
        "details": {
            "inflight": {"hops": caught.get("hops", []), **unsure},
            "recovery": {**rec, **unsure}, "steady_state": steady, "bytes_reconnect": recon,
            "success_rate_drop": drop, "duplicate_work": dup, "detection": {**det, **unsure},
            "rejoin": rejoin, "failover": fail,
            **({} if clock is None else {"clock": clock}),
        },
        # whole-run figures
        "tasks": summary(whole),
        "throughput": c.throughput(whole),
        "load": load(h),
        "hop_latency": c.hop_latency(whole),
        "false_suspicions": false_suspicions(whole),
        "llm": llm_usage(whole),
        "bytes": c.bytes_summary(whole),
        "overhead": overhead(whole),
        "timeline": c.timeline(whole),
    }


def summary(h: History) -> dict[str, Any]:
    whole = c.task_window(h.tasks, h.t0 - 1e9, h.end_submit + 1e9)
    return {**whole, "submitted": whole["n"], "correct": sum(t.correct for t in h.tasks)}


__all__ = ["SCHEMA", "compute_metrics", "log_metrics"]
