"""A run's history: the event log reshaped into the facts every checker needs.

Jepsen's model: the history is recorded once; checkers are pure functions over it. `History` is
built from the events alone (no clock, no config file, no process), so `fsr replay` rebuilds
exactly what the run saw.

It is built in one pass over the events, in any order (a log file's order will do), holding only
what the checkers read: the events they read by name (`KEPT`), sorted by time — a stable sort,
so events with the same timestamp keep their log order — and the numerous wire-carrying and
``deliver`` events projected into compact columns (`fsr.metrics.ledger`). The other events
(``send_failed``, ``hb_sent``, ``peer_joined`` …) are counted in `end` and then let go.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from fsr import events as ev
from fsr.events import CATALOGUE
from fsr.metrics.ledger import WIRE_EVENTS, WireLedger
from fsr.workload.grading import answer_found, exact_match, token_f1

# the events checkers and reports read by name (`History.of`; tests/test_events.py checks it)
KEPT = frozenset({
    ev.RUN_START, ev.RUN_END, ev.PHASE, ev.DOCUMENT, ev.TASK_SUBMIT, ev.TASK_END, ev.STORM_START,
    ev.STORM_END, ev.KILL, ev.PAUSE, ev.NET_FAULT, ev.RESUME, ev.CORRUPT_FRAME, ev.AGENT_STARTED,
    ev.STAGE_EXEC, ev.STAGE_DONE, ev.LOOKUP_EXEC, ev.LOOKUP_DONE, ev.WORK_START, ev.HOP_SENT,
    ev.HOP_FAILED, ev.HOP_HELD, ev.HOP_DONE, ev.HOP_REPUBLISHED, ev.HOP_HEDGED, ev.REATTACH,
    ev.HANDSHAKE_START, ev.HANDSHAKE_DONE, ev.HANDSHAKE_DEFERRED, ev.RESTART, ev.PEER_LOST,
    ev.PEER_SUSPECTED, ev.PEER_RETURNED, ev.FRAME_DROPPED, ev.HOP_RELAYED, ev.IOA_RETRY,
    ev.CLOCK_OFFSET,
})


@dataclass(frozen=True)
class Task:
    task_id: str
    submitted: float
    gold: str
    entry: str | None
    ended: float | None = None
    status: str = "unended"  # answered | failed | timed_out | unended (log cut off)
    answer: str = ""
    found: bool = False  # the gold answer is in the passages search gathered from the mesh

    @property
    def correct(self) -> bool:
        return self.status == "answered" and exact_match(self.answer, self.gold)

    @property
    def f1(self) -> float:
        return token_f1(self.answer, self.gold) if self.status == "answered" else 0.0


@dataclass(frozen=True)
class StormFacts:
    """One storm as the log recorded it: its kind, when it struck (the first kill() call or
    rule set), each victim's fault time and return (new process, SIGCONT, or healed link)."""

    index: int
    kind: str
    start: float
    kills: dict[str, float]
    returns: dict[str, float]


@dataclass
class History:
    events: list[dict[str, Any]]  # the `KEPT` events, in time order
    wire: WireLedger  # the wire-carrying events and deliveries, as columns
    config: dict[str, Any]
    t0: float  # the broadcast: t = 0 of the scenario
    end_submit: float  # t0 + duration: the end of the work phase
    fault: float  # first kill() call, or the nominal split when no kill happened
    fault_injected: bool
    victims: list[str]
    kills: dict[str, float]  # victim -> time of its kill() call (SIGKILL or SIGSTOP)
    returns: dict[str, float]  # victim -> when it came back (new process start, or SIGCONT)
    agents: list[str]
    tasks: list[Task]
    partial: bool
    end: float  # last event
    notes: list[str] = field(default_factory=list)
    storms: list[StormFacts] = field(default_factory=list)
    # end of the undisturbed baseline: the first storm (or the nominal split); a storm's view
    # keeps it, so each storm is compared with the same pre-fault period
    baseline_end: float = 0.0
    fault_kind: str = "kill"  # the (first, or this view's) storm's kind

    def resumes(self) -> list[float]:
        """When paused victims were continued (they come back without a new process)."""
        return [e["ts"] for e in self.of(ev.RESUME)]

    def of(self, *names: str) -> list[dict[str, Any]]:
        """The events of these names, in time order; names outside `fsr.events.CATALOGUE` are
        a checker's bug and raise, and so do names the history does not keep (`KEPT`)."""
        unknown = [n for n in names if n not in CATALOGUE]
        if unknown:
            raise KeyError(f"not an event of the catalogue: {unknown}")
        dropped = [n for n in names if n not in KEPT]
        if dropped:
            raise KeyError(f"not kept by the history (KEPT; wire events: History.wire): "
                           f"{dropped}")
        return [e for e in self.events if e["event"] in names]


def build_history(log: Iterable[dict[str, Any]]) -> History:
    """One pass over the log's events, in any order (see the module's docstring)."""
    events: list[dict[str, Any]] = []
    wire = WireLedger()
    last = -math.inf  # the last event's time, whatever the event
    for e in log:
        last = max(last, e["ts"])
        name = e["event"]
        if name in KEPT:
            events.append(e)
            if name == ev.HOP_SENT and e.get("relay"):
                wire.relay_legs.add(e["mid"])
        elif name in WIRE_EVENTS:
            wire.add(e)
        elif name == ev.DELIVER:
            wire.deliver(e)
    events.sort(key=lambda e: e["ts"])
    start = next((e for e in events if e["event"] == ev.RUN_START), None)
    if start is None:
        raise ValueError("the log has no run_start event: not an fsr run log")
    cfg = start["config"]
    sc = cfg["scenario"]
    broadcast = next((e["ts"] for e in events
                      if e["event"] == ev.PHASE and e.get("name") == "broadcast"), None)
    notes = list(start.get("doc_notes", []))
    if broadcast is None:
        notes.append("the run never reached its broadcast (t = 0)")
    t0 = broadcast if broadcast is not None else start["ts"]
    storms = storm_facts(events)
    kills = storms[0].kills if storms else {}
    returns = storms[0].returns if storms else {}
    # Without a kill, windowed metrics split at the nominal kill time — or at the middle of the
    # work phase when kill_at lies beyond it — so a fault-free run is a baseline to compare to.
    nominal = sc["kill_at"] if sc["kill_at"] < sc["duration"] else sc["duration"] / 2
    fault = min(kills.values()) if kills else t0 + nominal
    partial = not any(e["event"] == ev.RUN_END for e in events)
    if partial:
        notes.append("no run_end event: the run was cut off; metrics are partial")

    fragments: dict[str, str] = next((e["fragments"] for e in events
                                      if e["event"] == ev.DOCUMENT), {})
    ends = {}
    for e in events:
        if e["event"] == ev.TASK_END and e["task"] not in ends:
            ends[e["task"]] = e
    tasks = []
    for e in events:
        if e["event"] != ev.TASK_SUBMIT:
            continue
        end = ends.get(e["task"])
        texts = [fragments.get(f, "") for f in (end or {}).get("passages", [])]
        tasks.append(Task(e["task"], e["ts"], e["gold"], e.get("entry"),
                          end["ts"] if end else None, end["status"] if end else "unended",
                          end.get("answer", "") if end else "", answer_found(e["gold"], texts)))
    return History(
        events=events, wire=wire, config=cfg, t0=t0, end_submit=t0 + sc["duration"], fault=fault,
        fault_injected=bool(kills), victims=sorted(kills), kills=kills, returns=returns,
        agents=[a["id"] for a in start["agents"]], tasks=tasks, partial=partial,
        end=last, notes=notes, storms=storms, baseline_end=fault,
        fault_kind=storms[0].kind if storms else "kill",
    )


def storm_facts(events: list[dict[str, Any]]) -> list[StormFacts]:
    """Each storm's victims, fault times and returns (logs without storm numbers: storm 0)."""
    kinds = {e.get("storm", 0): e.get("fault", "kill") for e in events
             if e["event"] == ev.STORM_START}
    kills: dict[int, dict[str, float]] = {}
    for e in events:
        if e["event"] in (ev.KILL, ev.PAUSE):
            kills.setdefault(e.get("storm", 0), {})[e["victim"]] = e["kill_ts"]
        elif e["event"] == ev.NET_FAULT:
            kills.setdefault(e["storm"], {}).update(dict.fromkeys(e["victims"], e["kill_ts"]))
    out = []
    for index in sorted(kills):
        hit = kills[index]
        returns: dict[str, float] = {}  # a new process's start, its SIGCONT, or the heal
        for e in events:
            if e["event"] == ev.STORM_END and e["storm"] == index:
                for v in e["victims"]:
                    if kinds.get(index) in ("partition", "loss"):
                        returns.setdefault(v, e["ts"])
                continue
            v = e.get("node") if e["event"] == ev.AGENT_STARTED else e.get("victim")
            if e["event"] in (ev.AGENT_STARTED, ev.RESUME) and v in hit and e["ts"] > hit[v]:
                returns.setdefault(v, e["ts"])
        out.append(StormFacts(index, kinds.get(index, "kill"), min(hit.values()), hit,
                              returns))
    return out


def storm_view(h: History, i: int) -> History:
    """The history as the i-th storm that struck anyone (`h.storms[i]`: a storm whose targets
    resolved to no agent has no facts, so i is not always its number) sees it: its fault time,
    victims and returns, and the log cut where the next storm strikes (so one storm's reactions
    are not the next one's).
    Tasks keep their outcomes; the baseline stays the pre-fault period of the whole run."""
    s = h.storms[i]
    until = h.storms[i + 1].start if i + 1 < len(h.storms) else None
    events = h.events if until is None else [e for e in h.events if e["ts"] < until]
    wire = h.wire if until is None else h.wire.cut(until)
    return replace(h, events=events, wire=wire, fault=s.start, fault_injected=True,
                   fault_kind=s.kind, victims=sorted(s.kills), kills=s.kills, returns=s.returns,
                   end_submit=h.end_submit if until is None else min(h.end_submit, until),
                   end=h.end if until is None else min(h.end, until))
