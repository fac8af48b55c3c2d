"""The checkers: one pure function per metric over a `History`. Definitions live in the metric
catalogue (`fsr.metrics.catalogue`, docs/metrics.md) and must say what these functions do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from fsr import events as ev
from fsr.metrics.history import History, Task
from fsr.metrics.ledger import CATEGORIES, WireRow

STAGES = ("search", "extract", "triple", "reason")


def r3(x: float) -> float:
    return round(x, 3)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) — simple, and exact on replay."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


# -- tasks ------------------------------------------------------------------------------------
SUCCESS = ("correct", "found", "answered")  # what metrics.success may name


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """The 95 % Wilson score interval of k successes in n trials."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return [r3(max(0.0, centre - half)), r3(min(1.0, centre + half))]


def proportion(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "rate": r3(k / n) if n else None, "ci95": wilson(k, n)}


def succeeded(t: Task, measure: str) -> bool:
    """A task's success under `metrics.success`: answered correctly (exact match), its answer
    found in the passages search gathered, or just answered."""
    if measure == "found":
        return t.found
    if measure == "answered":
        return t.status == "answered"
    return t.correct


def task_window(tasks: list[Task], start: float, end: float,
                measure: str = "correct") -> dict[str, Any]:
    """Tasks *submitted* in [start, end): the share answered, found (the normalised gold answer
    occurs, on word boundaries, in the passages search gathered from the mesh) and correct
    (exact match), each over the n submitted with its 95 % Wilson interval; `success_rate` is
    the one `metrics.success` names; EM and mean token F1 over the answered ones (with their
    n); and the count of each terminal state."""
    inside = [t for t in tasks if start <= t.submitted < end]
    answered = [t for t in inside if t.status == "answered"]
    states = Counter(t.status for t in inside)
    n = len(inside)
    return {
        "n": n,
        "success": measure,
        "success_rate": r3(sum(succeeded(t, measure) for t in inside) / n) if n else None,
        "answered": proportion(len(answered), n),
        "found": proportion(sum(t.found for t in inside), n),
        "correct": proportion(sum(t.correct for t in inside), n),
        "em": r3(sum(t.correct for t in answered) / len(answered)) if answered else None,
        "f1": r3(sum(t.f1 for t in answered) / len(answered)) if answered else None,
        "n_answered": len(answered),
        "states": {s: states.get(s, 0) for s in ("answered", "failed", "timed_out", "unended")},
    }


def success_rate_drop(h: History) -> dict[str, Any]:
    """(pre − post) / pre of the success rate (the share of tasks that succeeded by
    `metrics.success`: correct, found or answered). pre: the tasks submitted in [t0, fault)
    that *ended* before the fault — the undisturbed baseline; post: the tasks the storm could
    touch — submitted before t0 + duration and not ended at the fault: in progress at the
    strike (the work it caught in flight, `inflight`) or submitted after it. For storm i of
    several, post ends at the next storm and pre stays the run's baseline (ended before the
    first fault)."""
    measure = h.config["metrics"].get("success", "correct")
    pre = task_window([t for t in h.tasks if t.ended is not None and t.ended < h.baseline_end],
                      h.t0, h.baseline_end, measure)
    post = task_window([t for t in h.tasks if t.ended is None or t.ended >= h.fault],
                       h.t0, h.end_submit, measure)
    out: dict[str, Any] = {"value": None, "pre": pre, "post": post,
           "windows": "pre = tasks submitted in [t0, fault) and ended before the fault; post = "
                      "tasks submitted in [t0, t0 + duration) not ended at the fault"}
    if not pre["n"] or not post["n"]:
        out["reason"] = "no task submitted in the pre or the post window"
    elif not pre["success_rate"]:
        out["reason"] = "pre-fault success rate is 0: a relative drop is undefined"
    else:
        out["value"] = r3((pre["success_rate"] - post["success_rate"]) / pre["success_rate"])
    return out


def throughput(h: History) -> dict[str, Any]:
    """Tasks answered (and answered correctly) that ended in [t0, t0 + duration], per second."""
    span = h.end_submit - h.t0
    done = [t for t in h.tasks if t.ended is not None and h.t0 <= t.ended <= h.end_submit]
    answered, correct = sum(t.status == "answered" for t in done), sum(t.correct for t in done)
    return {
        "answered_per_s": r3(answered / span),
        "correct_per_s": r3(correct / span),
        "n_answered": answered, "n_correct": correct,
        "window_s": r3(span),
    }


# -- latency ----------------------------------------------------------------------------------
def hop_latency(h: History) -> dict[str, Any]:
    """One-way latency of task messages: the sender's first `send` of a message id to the
    receiver's `deliver` of it to the application (protocol decoding included)."""
    lat = [ms(delivered - sent) for sent, delivered in h.wire.hop_times()]
    return {"n": len(lat), "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}


# -- bytes ------------------------------------------------------------------------------------
def wire_events(h: History) -> list[WireRow]:
    """Every event that carries wire bytes: sends, heartbeat tallies (the copies a node received
    in one heartbeat interval, attributed to the tally's time, the end of that interval), ZMTP
    handshakes."""
    return list(h.wire.rows())


def bytes_by_category(rows: Iterable[WireRow]) -> dict[str, int]:
    out = dict.fromkeys(CATEGORIES, 0)
    for r in rows:
        out[r.cat] += r.wire
    return out


def bytes_summary(h: History) -> dict[str, Any]:
    """Wire bytes of the whole run by category; sends split into application payload, protocol
    envelope, CURVE (under security "curve") and ZMTP framing."""
    wire = wire_events(h)
    sends = [r for r in wire if r.event == ev.SEND]
    by_cat = bytes_by_category(wire)
    return {
        "total": sum(by_cat.values()),
        "by_category": by_cat,
        "sends": {"payload": sum(r.pay for r in sends),
                  "envelope": sum(r.env for r in sends),
                  "security": sum(r.sec for r in sends),
                  "zmtp_framing": sum(r.wire - r.pay - r.env - r.sec for r in sends)},
        # every byte CURVE added: frames, heartbeat copies and connection handshakes
        "security": sum(r.sec for r in wire),
    }


def bytes_reconnect(h: History) -> dict[str, Any]:
    """Wire bytes logged in [fault, fault + `reconnect_window`] (cut at the end of the log), by
    category. A heartbeat tally counts whole at its time (the end of its interval), so each edge
    of the window may take or leave at most one heartbeat interval of a node's copies."""
    window = float(h.config["metrics"]["reconnect_window"])
    end = min(h.fault + window, h.end)
    by_cat = bytes_by_category(r for r in h.wire.rows() if h.fault <= r.ts <= end)
    return {"value": sum(by_cat.values()), "by_category": by_cat,
            "window_s": r3(end - h.fault), "window": "[fault, fault + reconnect_window]"}


# -- the storm --------------------------------------------------------------------------------
def detection(h: History) -> dict[str, Any]:
    """Per (observer, victim): the moment the observer's protocol stopped using the victim — its
    first `peer_lost` of the victim at or after the victim's kill() call, by whatever signal
    its failure-handling design uses (`how`) — minus that call's time. A surviving observer
    with no such event is *not needed* if it sent the victim nothing after the kill (no
    `hop_sent` to it: it never had to notice), else *missed*. A partition cuts both ways: each
    victim is also an observer of every agent on the other side, from the moment of the cut."""
    if not h.fault_injected:
        return {"pairs": [], "p50_ms": None, "max_ms": None, "n": 0, "missing": [],
                "not_needed": [],
                "reason": "no fault injected"}
    survivors = [a for a in h.agents if a not in h.kills]
    # (observer, lost peer) -> the fault time the detection is measured from
    since = {(o, v): h.kills[v] for v in h.victims for o in survivors}
    if h.fault_kind == "partition":
        since.update({(v, o): h.kills[v] for v in h.victims for o in survivors})
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for e in h.of(ev.PEER_LOST):
        pair = (e["node"], e["peer"])
        if pair in since and e["ts"] >= since[pair]:
            first.setdefault(pair, e)
    used = {(e["node"], e["dst"]) for e in h.of(ev.HOP_SENT)
            if (e["node"], e["dst"]) in since and e["ts"] >= since[(e["node"], e["dst"])]}
    pairs = [{"observer": o, "victim": v, "ms": ms(e["ts"] - since[(o, v)]), "how": e["how"]}
             for (o, v), e in sorted(first.items())]
    values = [p["ms"] for p in pairs]
    undetected = [pair for pair in sorted(since) if pair not in first]
    return {"pairs": pairs, "p50_ms": percentile(values, 50),
            "max_ms": max(values) if values else None, "n": len(values),
            "missing": [f"{o}->{v}" for o, v in undetected if (o, v) in used],
            "not_needed": [f"{o}->{v}" for o, v in undetected if (o, v) not in used]}


def membership(h: History) -> dict[str, Any]:
    """The heartbeat channel's view, the same for every protocol: per (surviving observer,
    victim), its first `peer_suspected` of the victim at or after the kill, minus the kill."""
    if not h.fault_injected:
        return {"p50_ms": None, "max_ms": None, "n": 0, "reason": "no fault injected"}
    survivors = set(h.agents) - set(h.kills)
    first: dict[tuple[str, str], float] = {}
    for e in h.of(ev.PEER_SUSPECTED):
        v = e["peer"]
        if v in h.kills and e["node"] in survivors and e["ts"] >= h.kills[v]:
            first.setdefault((e["node"], v), ms(e["ts"] - h.kills[v]))
    values = list(first.values())
    return {"p50_ms": percentile(values, 50), "max_ms": max(values) if values else None,
            "n": len(values)}


# Survivor events that are recovery actions on the wire (each logged as its message is sent).
def _recovery_action(e: dict[str, Any]) -> str | None:
    if e["event"] == ev.HOP_SENT and e.get("retry"):
        return "re-published hop"
    if e["event"] == ev.REATTACH:
        return "resubscribe / re-attach"
    if e["event"] == ev.IOA_RETRY and e.get("sent"):
        return "re-sent request"
    if e["event"] == ev.HANDSHAKE_START and e.get("sent"):
        return "reconnection handshake"
    return None


def recovery(h: History) -> dict[str, Any]:
    """The survivors' reaction: the first message a surviving agent sends as a recovery action
    after the fault — a re-published hop (`hop_sent` with retry), a resubscribe / re-attach
    (`reattach`), a held request sent again (`ioa_retry` that went through), or a reconnection
    handshake (`handshake_start` that went on the wire, with a
    survivor or a returning victim) — minus the fault time. It waits for a restart only if no
    survivor had anything to recover before the victims returned."""
    if not h.fault_injected:
        return {"value": None, "reason": "no fault injected"}
    survivors = set(h.agents) - set(h.victims)
    for e in h.of(ev.HOP_SENT, ev.REATTACH, ev.IOA_RETRY, ev.HANDSHAKE_START):
        what = _recovery_action(e)
        if what and e["ts"] > h.fault and e["node"] in survivors:
            peer = e.get("dst") or e.get("peer")
            return {"value": ms(e["ts"] - h.fault), "by": what, "event": e["event"],
                    "between": sorted([e["node"], str(peer)])}
    return {"value": None, "reason": "no survivor sent a recovery message after the fault"}


def rejoin(h: History) -> dict[str, Any]:
    """Per victim that came back — restarted after its kill (`agent_started`), or continued
    after its pause (`resume`): `rejoin_ms` — from that return to its first completed handshake
    with a survivor (`handshake_done`, either side) — and `first_task_ms` — from the return to
    the first stage it executed for a task that was then answered. p50 and max over victims."""
    starts = h.returns
    survivors = set(h.agents) - set(h.kills)
    answered = {t.task_id for t in h.tasks if t.status == "answered"}
    per: dict[str, dict[str, float | None]] = {}
    for v, t in sorted(starts.items()):
        hs = next((e["ts"] for e in h.of(ev.HANDSHAKE_DONE) if e["ts"] >= t and (
            (e["node"] == v and e["peer"] in survivors) or (e["peer"] == v
                                                           and e["node"] in survivors))), None)
        work = next((e["ts"] for e in h.of(ev.STAGE_EXEC, ev.LOOKUP_EXEC) if e["node"] == v
                     and e["ts"] >= t and e.get("task") in answered), None)
        per[v] = {"rejoin_ms": None if hs is None else ms(hs - t),
                  "first_task_ms": None if work is None else ms(work - t)}

    def stats(key: str) -> dict[str, Any]:
        vals = [v for p in per.values() if (v := p[key]) is not None]
        return {"p50_ms": percentile(vals, 50), "max_ms": max(vals) if vals else None,
                "n": len(vals)}

    return {"victims": per, "rejoin": stats("rejoin_ms"), "first_task": stats("first_task_ms")}


def failover(h: History) -> dict[str, Any]:
    """`failover_ms`: from the fault until the first task the storm hit is answered anyway. A
    task is hit when one of its hops to a victim failed or was held at or after the fault —
    one outstanding on the victim when it died, or one sent to it before its loss was noticed
    (and refused). `tasks`: how many tasks were hit; `answered`: how many of them were."""
    if not h.fault_injected:
        return {"value": None, "reason": "no fault injected"}
    hit = {e.get("task") for e in h.of(ev.HOP_FAILED, ev.HOP_HELD)
           if e["dst"] in h.kills and e["ts"] >= h.fault and e.get("task")}
    ends = sorted(t.ended for t in h.tasks if t.task_id in hit and t.status == "answered"
                  and t.ended is not None)
    if not hit:
        return {"value": None, "tasks": 0, "reason": "no task had a hop to a victim fail"}
    if not ends:
        return {"value": None, "tasks": len(hit), "reason": "none of those tasks was answered"}
    return {"value": ms(ends[0] - h.fault), "tasks": len(hit), "answered": len(ends)}


def duplicate_work(h: History) -> dict[str, Any]:
    """Repeated executions of the same (task_id, stage) over all stage executions. `causes`:
    each repeat by the reason its hop was last re-published before it (``hop_republished``:
    the signal that made the requester let the earlier one go — `timeout`, `stream_closed`,
    `heartbeat_timeout` …), `hedge` (a hedged copy, ``hop_hedged``, sent while the first still
    waited), or `no_republish` (e.g. a relay passing a request on twice). `lookups`: the search
    stages' lookups executed (``lookup_exec``) and the hedged copies sent of them, the cost of
    hedging lookups (a lookup is one of several per search, so it has no repeat count)."""
    total, seen = 0, set()
    causes: Counter[str] = Counter()
    last_reason: dict[tuple[str, str], str] = {}
    for e in h.of(ev.STAGE_EXEC, ev.HOP_REPUBLISHED, ev.HOP_HEDGED):
        if e.get("stage") not in STAGES:
            continue
        key = (e["task"], e["stage"])
        if e["event"] != ev.STAGE_EXEC:
            last_reason[key] = "hedge" if e["event"] == ev.HOP_HEDGED else str(e.get("reason"))
            continue
        total += 1
        if key in seen:
            causes[last_reason.get(key, "no_republish")] += 1
        seen.add(key)
    return {"value": r3((total - len(seen)) / total) if total else None,
            "executions": total, "repeated": total - len(seen),
            "causes": dict(sorted(causes.items())),
            "lookups": {"executions": len(h.of(ev.LOOKUP_EXEC)),
                        "hedged": sum(e.get("stage") == "lookup" for e in h.of(ev.HOP_HEDGED))}}


def timeline(h: History) -> list[dict[str, Any]]:
    """Per second since t0: tasks ended/answered/correct, live agents, bytes by category (a
    heartbeat tally in the second its interval ended)."""
    last = int(max(h.end, h.end_submit) - h.t0) + 1
    rows: list[dict[str, Any]] = [
        {"t": s, "ended": 0, "answered": 0, "correct": 0, "live_agents": 0,
         "bytes": dict.fromkeys(CATEGORIES, 0)} for s in range(max(last, 0))]

    def row(ts: float) -> dict[str, Any] | None:
        i = int(ts - h.t0)
        return rows[i] if 0 <= i < len(rows) and ts >= h.t0 else None

    for t in h.tasks:
        if t.ended is not None and (r := row(t.ended)):
            r["ended"] += 1
            r["answered"] += t.status == "answered"
            r["correct"] += t.correct
    for w in h.wire.rows():
        if r := row(w.ts):
            r["bytes"][w.cat] += w.wire
    changes: list[tuple[float, int]] = sorted([(e["ts"], 1) for e in h.of(ev.AGENT_STARTED)]
                     + [(ts, 1) for ts in h.resumes()]
                     + [(k, -1) for s in h.storms if s.kind in ("kill", "pause")
                        for k in s.kills.values()])
    live, i = 0, 0
    for r in rows:
        while i < len(changes) and changes[i][0] < h.t0 + r["t"] + 1:
            live += changes[i][1]
            i += 1
        r["live_agents"] = live
    return rows


# the steady state lives in its own module (which reads the helpers above)
from fsr.metrics.steady import steady_state, steady_window  # noqa: E402, F401
