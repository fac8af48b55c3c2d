"""The restart wave and how the mesh came back together: how hard the handshakes hit (attempts
a second across the mesh) and how long until every pair of neighbours was ready again — the
figures ``recovery.reconnect`` (immediate | batched, `fsr.agents.pacing`) trades against each
other. Pure functions of the log, like every checker.

A pair is ordered: (n, p) is ready when n completed a handshake with p (n's ``handshake_done``
of p), which is what lets n route to p. From the fault on, a pair breaks when n's protocol
loses p (``peer_lost``), when n sees p come back (``peer_returned``: a returning peer is
handshaken with again), and, both ways, when either is SIGKILLed (the new process knows no one,
and no one knows it); it is mended by n's next ``handshake_done`` of p. Pairs with a victim that
never came back are left out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from fsr import events as ev
from fsr.metrics.history import History

WINDOW = 1.0  # s: the window of the peak attempt rate


def r3(x: float) -> float:
    return round(x, 3)


def neighbours(h: History) -> dict[str, list[str]]:
    """Each agent's neighbours, from ``run_start`` (absent: a full mesh)."""
    agents = next(e["agents"] for e in h.of(ev.RUN_START))
    return {a["id"]: a.get("peers", [b["id"] for b in agents if b["id"] != a["id"]])
            for a in agents}


def peak_rate(times: list[float], window: float = WINDOW) -> tuple[int, float | None]:
    """The most of `times` (sorted) in any window [t, t + `window`) that starts at one of them,
    and where that window starts (None when there are none)."""
    best, at, lo = 0, None, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        if hi - lo + 1 > best:
            best, at = hi - lo + 1, times[lo]
    return best, at


def bucket_excess(times: list[float], rate: float, burst: int) -> float:
    """How far `times` (sorted: one process's attempts) break a token bucket of `rate` a second
    and `burst` deep that starts full: the most attempts in any span [t_i, t_j] beyond burst +
    rate x (t_j - t_i). At most 0 when the bucket held (O(n): for each j, the best i is the one
    with the least i - rate x t_i)."""
    worst, best_start = -math.inf, math.inf
    for j, t in enumerate(times):
        best_start = min(best_start, j - rate * t)
        worst = max(worst, (j - rate * t) - best_start + 1 - burst)
    return worst


def in_progress_max(events: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Per node, the most handshake attempts it had in progress at once: each attempt on the
    wire (``handshake_start`` with sent) from its start until the node's ``handshake_done`` of
    that peer or the end of its wait (the ``handshake_deferred`` with why ``backoff`` that
    follows it), whichever is first. Only logs of ``batched`` runs carry the waits."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    open_: dict[tuple[str, str], tuple[float, float]] = {}  # (node, peer) -> (start, deadline)

    def close(key: tuple[str, str], end: float) -> None:
        start, deadline = open_.pop(key)
        spans[key[0]].append((start, min(end, deadline)))

    pending: dict[tuple[str, str], float] = {}  # sent, its wait not yet seen
    for e in events:
        key = (e["node"], str(e.get("peer")))
        if e["event"] == ev.HANDSHAKE_START and e.get("sent"):
            if key in open_:
                close(key, e["ts"])
            pending[key] = e["ts"]
        elif e["event"] == ev.HANDSHAKE_DEFERRED and e.get("why") == "backoff":
            if key in pending:
                start = pending.pop(key)
                open_[key] = (start, start + float(e["wait"]))
        elif e["event"] == ev.HANDSHAKE_DONE and key in open_:
            close(key, e["ts"])
    for key in list(open_):
        close(key, math.inf)
    out = {}
    for node, ss in spans.items():
        # ends before starts at the same instant: an answer frees its slot for the next
        edges = sorted([(s, 1) for s, _ in ss] + [(e, -1) for _, e in ss])
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        out[node] = peak
    return out


def _mesh(h: History, pairs_of: dict[str, list[str]], alive: set[str]
          ) -> tuple[dict[tuple[str, str], float | None], float | None]:
    """Each pair the storm broke -> when it was last mended (None: still broken at the end), and
    when the last one was mended if none is still broken."""
    # a SIGKILL breaks the victim's pairs both ways at its kill() call; the rest is logged
    kills = [{"event": ev.KILL, "ts": t, "victim": v} for v, t in h.kills.items()
             if h.fault_kind == "kill" and v in alive]
    logged = [e for e in h.of(ev.PEER_LOST, ev.PEER_RETURNED, ev.HANDSHAKE_DONE)
              if e["ts"] >= h.fault]
    broken: dict[tuple[str, str], float | None] = {}
    for e in sorted(kills + logged, key=lambda e: e["ts"]):  # stable: a kill first at a tie
        if e["event"] == ev.KILL:
            v = e["victim"]
            for p in pairs_of.get(v, []):
                if p in alive:
                    broken[(v, p)] = broken[(p, v)] = None
            continue
        key = (e["node"], str(e.get("peer")))
        if key[0] not in alive or key[1] not in alive or key[1] not in pairs_of.get(key[0], []):
            continue
        if e["event"] == ev.HANDSHAKE_DONE:
            if key in broken:
                broken[key] = e["ts"]
        else:
            broken[key] = None
    mended = [t for t in broken.values() if t is not None]
    return broken, (max(mended) if mended and len(mended) == len(broken) else None)


def reconnect(h: History) -> dict[str, Any]:
    """The figures of `reconnect` (see the catalogue): the storm's restart wave, the mesh
    mended, the attempts' peak rate and, for ``batched`` logs, the pacing as the log shows it."""
    cfg = h.config.get("recovery") or {}
    mode = cfg.get("reconnect", "immediate")
    out: dict[str, Any] = {"mode": mode, "wave_ms": None, "full_mesh_ms": None, "reason": None,
                           "pairs": 0, "missing": 0, "last_pair": None, "attempts": 0,
                           "peak_attempts_per_s": 0, "peak_at_ms": None,
                           "deferred": {"backoff": 0, "admission": 0},
                           "in_progress_max": None, "bucket_excess": None}
    deferred = h.of(ev.HANDSHAKE_DEFERRED)
    for e in deferred:
        if e.get("why") in out["deferred"] and e["ts"] >= h.fault:
            out["deferred"][e["why"]] += 1
    starts = [e for e in h.of(ev.HANDSHAKE_START) if e.get("sent")]
    if mode == "batched":
        per_node = in_progress_max(h.of(ev.HANDSHAKE_START, ev.HANDSHAKE_DEFERRED,
                                        ev.HANDSHAKE_DONE))
        out["in_progress_max"] = max(per_node.values(), default=0)
        out["bucket_excess"] = _bucket(h, starts, float(cfg.get("rate", 64.0)),
                                       int(cfg.get("burst", 100)))
    if not h.fault_injected:
        return {**out, "reason": "no fault injected"}
    after = [e["ts"] for e in starts if h.fault <= e["ts"] <= h.end]
    out["attempts"] = len(after)
    peak, at = peak_rate(after)
    out["peak_attempts_per_s"] = peak
    out["peak_at_ms"] = None if at is None else r3((at - h.fault) * 1000)
    wave = [e["ts"] for e in h.of(ev.RESTART, ev.RESUME)
            if e["victim"] in h.kills and e["ts"] >= h.fault]
    start = min(wave) if wave else min(h.returns.values(), default=None)
    if start is None:
        return {**out, "reason": "no victim came back"}
    out["wave_ms"] = r3((start - h.fault) * 1000)
    alive = set(h.agents) - (set(h.kills) - set(h.returns))
    broken, full = _mesh(h, neighbours(h), alive)
    out["pairs"] = len(broken)
    out["missing"] = sum(t is None for t in broken.values())
    if broken and full is not None:
        last = max(broken, key=lambda k: broken[k] or 0.0)
        out["last_pair"] = list(last)
        return {**out, "full_mesh_ms": r3((full - start) * 1000), "reason": "full"}
    if not broken:
        return {**out, "full_mesh_ms": 0.0, "reason": "no pair broken"}
    return {**out, "reason": "pairs still broken at the end"}


def _bucket(h: History, starts: list[dict[str, Any]], rate: float, burst: int) -> float:
    """`bucket_excess` over every process: its attempts from its ``agent_started`` on (a new
    process starts with a full bucket); the worst, rounded."""
    lives: dict[str, list[float]] = defaultdict(list)  # node -> its processes' start times
    for e in h.of(ev.AGENT_STARTED):
        lives[e["node"]].append(e["ts"])
    times: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in starts:
        life = sum(t <= e["ts"] for t in lives.get(e["node"], []))
        times[(e["node"], life)].append(e["ts"])
    worst = max((bucket_excess(ts, rate, burst) for ts in times.values()), default=-burst)
    return r3(worst) + 0.0  # never -0.0


__all__ = ["bucket_excess", "in_progress_max", "neighbours", "peak_rate", "reconnect"]
