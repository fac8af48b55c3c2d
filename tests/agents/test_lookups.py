"""The search stage's lookups (`fsr.agents.lookups.SearchRun`) on a stand-in host: a cover of
the fragments, a failed holder's fragments re-covered, and hedged lookups — a copy from other
holders once a lookup waits past the lookups' tail latency, the first whole answer winning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fsr.agents.hedge import MIN_SAMPLES, Hedging
from fsr.agents.hops import Hop
from fsr.agents.lookups import LOOKUP, SearchRun
from fsr.protocols import Message, kinds

# fragment -> its holders, in the order the stand-in cover prefers them
HOLDERS = {"f1": ["a", "b"], "f2": ["a", "c"], "f3": ["d"]}


class Hops:
    def __init__(self) -> None:
        self.pending: dict[str, Hop] = {}
        self.cancelled: list[tuple[str, str]] = []

    def send(self, hop: Hop) -> None:
        self.pending[hop.message.msg_id] = hop

    def cancel(self, mid: str, reason: str) -> None:
        self.pending.pop(mid)
        self.cancelled.append((mid, reason))

    def to(self, dest: str) -> list[Hop]:
        return [h for h in self.pending.values() if h.dest == dest]

    def answer(self, dest: str, hits: list[dict[str, Any]]) -> None:
        (hop,) = self.to(dest)
        del self.pending[hop.message.msg_id]
        hop.on_reply(Message(kinds.LOOKUP_REPLY, {"hits": hits},
                             reply_to=hop.message.msg_id, sender=dest))

    def fail(self, dest: str, reason: str) -> None:
        (hop,) = self.to(dest)
        del self.pending[hop.message.msg_id]
        hop.on_fail(reason)


class Router:
    def cover(self, fids: list[str], exclude: set[str], salt: str
              ) -> tuple[dict[str, list[str]], list[str]]:
        plan: dict[str, list[str]] = {}
        lost = []
        for f in fids:
            live = [h for h in HOLDERS[f] if h not in exclude]
            if live:
                plan.setdefault(live[0], []).append(f)
            else:
                lost.append(f)
        return plan, lost


class Shard:
    def split(self, fids: list[str] | None = None) -> tuple[list[str], list[str]]:
        return [], list(HOLDERS) if fids is None else fids


class Host:
    """What `SearchRun` needs of its agent (`fsr.agents.contracts.PipelineHost`)."""

    max_attempts = 3
    top_k = 5

    def __init__(self, hedging: Hedging | None) -> None:
        self.hops = Hops()
        self.hedging = hedging
        self.router = Router()
        self.shard = Shard()
        self.server: Any = None
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.replies: list[dict[str, Any]] = []

    def record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.timers.append((delay, fn))

    def reply(self, request: Message, body: dict[str, Any]) -> None:
        self.replies.append(body)

    def task_finished(self, *args: Any) -> None:
        raise AssertionError("a search does not finish tasks")

    def fire(self) -> None:
        timers, self.timers = self.timers, []
        for _, fn in timers:
            fn()


def hit(fid: str) -> dict[str, Any]:
    return {"fid": fid, "score": 1.0, "text": fid}


def search(host: Host) -> SearchRun:
    run = SearchRun(host, Message(kinds.STAGE_REQUEST,
                                  {"task_id": "t1", "input": {"question": "q"}}))
    run.start()
    return run


def learnt(seconds: float = 0.1) -> Hedging:
    h = Hedging(0.95)
    for _ in range(MIN_SAMPLES):
        h.observe(LOOKUP, seconds)
    return h


def fids(body: dict[str, Any]) -> list[str]:
    return sorted(h["fid"] for h in body["output"]["passages"])


def test_each_fragment_is_asked_of_one_holder_and_the_hits_merged() -> None:
    host = Host(None)
    search(host)
    assert sorted(h.dest for h in host.hops.pending.values()) == ["a", "d"]
    host.hops.answer("a", [hit("f1"), hit("f2")])
    assert host.replies == []  # d has not answered
    host.hops.answer("d", [hit("f3")])
    assert fids(host.replies[0]) == ["f1", "f2", "f3"] and host.replies[0]["missing"] == 0
    assert host.timers == []  # no hedging: no timer


def test_a_failed_holders_fragments_are_asked_of_other_replicas() -> None:
    host = Host(None)
    search(host)
    host.hops.fail("a", "heartbeat_timeout")
    assert sorted(h.dest for h in host.hops.pending.values()) == ["b", "c", "d"]
    assert all(h.meta["retry"] for h in host.hops.pending.values() if h.dest != "d")
    for dest, f in (("b", "f1"), ("c", "f2"), ("d", "f3")):
        host.hops.answer(dest, [hit(f)])
    assert fids(host.replies[0]) == ["f1", "f2", "f3"]
    assert ("hop_republished", {"task": "t1", "stage": LOOKUP, "attempt": 3,
                                "reason": "heartbeat_timeout"}) in host.events


def test_a_lookup_waiting_past_the_tail_is_hedged_and_the_first_whole_answer_wins() -> None:
    host = Host(learnt(0.1))
    search(host)
    assert [d for d, _ in host.timers] == [0.1, 0.1]  # one per leg, after the learnt p95
    (stuck,) = host.hops.to("a")
    host.hops.answer("d", [hit("f3")])
    host.fire()  # a's leg is hedged; d's leg is answered, so it is not
    hedged = [f for e, f in host.events if e == "hop_hedged"]
    assert [(f["stage"], f["mid"], f["dst"]) for f in hedged] == [
        (LOOKUP, stuck.message.msg_id, "b"), (LOOKUP, stuck.message.msg_id, "c")]
    copies = [h for h in host.hops.pending.values() if h.meta.get("hedge")]
    assert sorted(h.dest for h in copies) == ["b", "c"]
    host.hops.answer("b", [hit("f1")])
    assert host.replies == []  # the copy is whole only with c's answer too
    host.hops.answer("c", [hit("f2")])
    assert fids(host.replies[0]) == ["f1", "f2", "f3"]
    assert host.hops.cancelled == [(stuck.message.msg_id, "hedged")]
    assert host.hops.pending == {}


def test_the_first_holder_answering_first_lets_the_copy_go() -> None:
    host = Host(learnt())
    search(host)
    host.fire()
    host.hops.answer("a", [hit("f1"), hit("f2")])
    assert sorted(reason for _, reason in host.hops.cancelled) == ["hedged", "hedged"]
    host.hops.answer("d", [hit("f3")])
    assert len(host.replies) == 1 and fids(host.replies[0]) == ["f1", "f2", "f3"]


def test_no_hedge_when_other_holders_cannot_cover_every_fragment() -> None:
    host = Host(learnt())
    search(host)
    host.hops.answer("a", [hit("f1"), hit("f2")])
    host.fire()  # d's leg: f3 has no other holder
    assert not [e for e, _ in host.events if e == "hop_hedged"]
    assert [h.dest for h in host.hops.pending.values()] == ["d"]


def test_a_copy_that_lost_fragments_waits_for_the_other() -> None:
    host = Host(learnt())
    search(host)
    host.fire()  # a's leg hedged to b (f1) and c (f2)
    host.hops.fail("c", "send_failed")  # f2's other holder is a, busy on the leg: lost here
    assert host.replies == [] and sorted(h.dest for h in host.hops.pending.values()) == [
        "a", "b", "d"]
    host.hops.answer("b", [hit("f1")])
    host.hops.answer("d", [hit("f3")])
    assert host.replies == []  # the copy is whole but lost f2; a may still answer both
    host.hops.answer("a", [hit("f1"), hit("f2")])
    assert fids(host.replies[0]) == ["f1", "f2", "f3"] and host.replies[0]["missing"] == 0
