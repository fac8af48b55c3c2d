"""What became of the work in flight when the storm struck: the `inflight` metric.

A hop is a request (a stage or a lookup) one agent sent another and awaits an answer to; it is
*outstanding* from its ``hop_sent`` until its ``hop_done`` (the reply reached the sender) or
``hop_failed`` (the sender let it go). The hops outstanding on a victim at its kill() call are
the work the storm caught in flight; how and how fast each sender let go of them is where the
protocols' failure designs differ.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import percentile, r3
from fsr.metrics.history import History


def spread(values: list[float]) -> dict[str, Any]:
    return {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "max_ms": max(values) if values else None, "n": len(values)}


@dataclass(frozen=True)
class Caught:
    """One hop outstanding on a victim at its kill() call."""

    sender: str
    victim: str
    mid: str
    task: str | None
    stage: str
    kill: float


def outstanding(h: History) -> list[Caught]:
    """The hops surviving agents had outstanding on a victim at that victim's kill() call: sent
    before it, with no ``hop_done`` or ``hop_failed`` before it."""
    survivors = set(h.agents) - set(h.kills)
    ended: dict[str, float] = {}
    for e in h.of(ev.HOP_DONE, ev.HOP_FAILED):
        ended.setdefault(e["mid"], e["ts"])
    out = []
    for e in h.of(ev.HOP_SENT):
        v = e["dst"]
        if v in h.kills and e["node"] in survivors and e["ts"] < h.kills[v] \
                and ended.get(e["mid"], float("inf")) >= h.kills[v]:
            out.append(Caught(e["node"], v, e["mid"], e.get("task"), str(e.get("stage")),
                              h.kills[v]))
    return out


def inflight(h: History) -> dict[str, Any]:
    """The hops outstanding on victims at the strike (`n`: sent by a surviving agent to a
    victim before the victim's kill() call, neither answered — ``hop_done`` — nor let go —
    ``hop_failed`` — before it), and for each:
    * *let go*: the sender's ``hop_failed`` of it at or after the kill; `let_go_ms` (p50, p95,
      max, n) is that time minus the kill, `by_signal` counts the reasons (`stream_closed`,
      `request_timeout` / `timeout`, `ping_timeout`, `heartbeat_timeout`, `send_failed`,
      `new_incarnation`, `lost_by_peer`: the restarted victim said it never had the work);
      `held` counts hops the protocol held first (``hop_held``: a2a resubscribing);
    * *fate*: `answered_by_victim` (its reply arrived after the kill: a reply already on the
      wire, or a paused victim continued), `waited_for_restart` (let go only at or after the
      victim came back), `republished_answered` / `republished_failed` (let go before the
      victim's return; the task was then answered / was not), `lost` (neither answered nor let
      go by the end of the log).
    `tasks_hit`: the tasks with such a hop, or whose entry agent was a victim killed while the
    task was in progress (`entry_killed`: nobody drives them any more; the runner's deadline
    ends them), with how many were answered and their time from submission to answer (p50,
    p95); `tasks_not_hit`: the same for the other tasks in progress at the strike (submitted
    before the first kill, ended after it)."""
    if not h.fault_injected:
        return {"n": 0, "let_go_ms": spread([]), "reason": "no fault injected"}
    caught = outstanding(h)
    failed: dict[str, dict[str, Any]] = {}
    for e in h.of(ev.HOP_FAILED):
        failed.setdefault(e["mid"], e)
    done = {e["mid"]: e["ts"] for e in h.of(ev.HOP_DONE)}
    held = {e["mid"] for e in h.of(ev.HOP_HELD)}
    tasks = {t.task_id: t for t in h.tasks}
    let_go: list[float] = []
    signals: Counter[str] = Counter()
    fates: Counter[str] = Counter()
    hops = []
    for c in caught:
        f = failed.get(c.mid)
        back = h.returns.get(c.victim)
        task = tasks.get(c.task or "")
        answered = task is not None and task.status == "answered"
        if c.mid in done:
            fate, ms = "answered_by_victim", None
        elif f is None:
            fate, ms = "lost", None
        else:
            ms = r3((f["ts"] - c.kill) * 1000)
            let_go.append(ms)
            signals[str(f.get("reason"))] += 1
            if back is not None and f["ts"] >= back:
                fate = "waited_for_restart"
            else:
                fate = "republished_answered" if answered else "republished_failed"
        fates[fate] += 1
        hops.append({"sender": c.sender, "victim": c.victim, "task": c.task, "stage": c.stage,
                     "let_go_ms": ms, "signal": None if f is None else f.get("reason"),
                     "held": c.mid in held, "fate": fate})
    first = min(h.kills.values())
    busy = [t for t in h.tasks if t.submitted < first and (t.ended is None or t.ended >= first)]
    # a task whose entry agent died with it in progress is hit too: its driver is gone
    orphaned = {t.task_id for t in busy if t.entry in h.kills and t.submitted < h.kills[t.entry]
                and (t.ended is None or t.ended >= h.kills[t.entry])}
    hit_ids = {c.task for c in caught if c.task} | orphaned

    def latency(group: list[Any]) -> dict[str, Any]:
        ok = [r3((t.ended - t.submitted) * 1000) for t in group
              if t.status == "answered" and t.ended is not None]
        return {"n": len(group), "answered": len(ok), "p50_ms": percentile(ok, 50),
                "p95_ms": percentile(ok, 95)}

    return {
        "n": len(caught),
        "let_go_ms": spread(let_go),
        "by_signal": dict(sorted(signals.items())),
        "held": sum(c.mid in held for c in caught),
        "fates": dict(sorted(fates.items())),
        "tasks_hit": {**latency([t for t in busy if t.task_id in hit_ids]),
                      "entry_killed": len(orphaned)},
        "tasks_not_hit": latency([t for t in busy if t.task_id not in hit_ids]),
        "hops": hops,
    }


def detection_split(h: History, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """`detection_ms` split: *busy* pairs — the observer had work in flight to the victim at its
    kill() call (a hop outstanding) — and *idle* ones; p50, max and n of each."""
    busy = {(c.sender, c.victim) for c in outstanding(h)} if h.fault_injected else set()
    out = {}
    for name, want in (("busy", True), ("idle", False)):
        values = [p["ms"] for p in pairs if ((p["observer"], p["victim"]) in busy) == want]
        out[name] = {"p50_ms": percentile(values, 50),
                     "max_ms": max(values) if values else None, "n": len(values)}
    return out
