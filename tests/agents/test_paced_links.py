"""The links' batched handshake loop (`fsr.agents.links`, ``recovery.reconnect: batched``) on a
fake clock: a stand-in host whose timers, answers and links the test drives. What the loop did
is read back from the events it logged, with the same functions the metrics use
(`fsr.metrics.reconnect`), so the log is shown to tell what the code did."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from fsr import events as ev
from fsr.agents.links import PeerLinks
from fsr.agents.pacing import ConnectBackoff, Pacing
from fsr.metrics.reconnect import bucket_excess, in_progress_max
from fsr.protocols.failure import baseline
from fsr.protocols.peers import PeerTable


class FakeAdapter:
    def __init__(self, host: FakeHost) -> None:
        self.host = host

    def start_handshake(self, peer: str) -> bool:
        h = self.host
        if peer not in h.links_up:
            return False
        h.sent.append((h.now, peer))
        if peer in h.answering:  # the answer comes back `latency` later
            h.call_later(h.latency, lambda: h.answer(peer))
        return True


class FakeHops:
    def has(self, peer: str) -> bool:
        return False

    def peer_lost(self, peer: str, how: str) -> None:
        pass


class FakeHost:
    node_id = "agent_0"

    def __init__(self, peers: list[str], pacing: Pacing, latency: float = 0.01) -> None:
        self.now = 1000.0
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.events: list[dict[str, Any]] = []
        self.sent: list[tuple[float, str]] = []
        self.alive = set(peers)
        self.links_up = set(peers)
        self.answering = set(peers)
        self.link_waiters: dict[str, list[Callable[[], None]]] = {}
        self.latency = latency
        self.adapter = FakeAdapter(self)
        self.hops = FakeHops()
        self.table = PeerTable(self.node_id)
        self.links = PeerLinks(self, self.table, baseline(1.0, 3, 2.0), 2.0,  # type: ignore[arg-type]
                               pacing, clock=lambda: self.now)

    # -- LinkHost
    def record(self, event: str, **fields: Any) -> None:
        self.events.append({"ts": self.now, "node": self.node_id, "event": event, **fields})

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (self.now + delay, next(self.seq), fn))

    def when_link_up(self, peer: str, fn: Callable[[], None]) -> None:
        self.link_waiters.setdefault(peer, []).append(fn)

    def peer_alive(self, peer: str) -> bool:
        return peer in self.alive

    def adapter_for(self, peer: str) -> FakeAdapter:
        return self.adapter

    # -- what the node does on an answer (`MeshNode._take` -> `Agent.on_peer_ready`)
    def answer(self, peer: str) -> None:
        self.record(ev.HANDSHAKE_DONE, peer=peer)
        self.table.ready.add(peer)
        self.links.ready(peer)

    def link_up(self, peer: str) -> None:
        self.links_up.add(peer)
        for fn in self.link_waiters.pop(peer, []):
            fn()

    def run_until(self, until: float) -> None:
        while self.timers and self.timers[0][0] <= until:
            when, _, fn = heapq.heappop(self.timers)
            self.now = max(self.now, when)
            fn()
        self.now = max(self.now, until)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


def pacing(rate: float, burst: int, jitter: float = 0.2) -> Pacing:
    return Pacing(ConnectBackoff(jitter=jitter), rate, burst, seed=5)


PEERS = [f"agent_{i}" for i in range(1, 11)]


def test_a_wave_is_admitted_by_the_bucket_in_order_and_every_peer_gets_ready() -> None:
    host = FakeHost(PEERS, pacing(rate=2.0, burst=3))
    for p in PEERS:  # ten peers come back at once
        host.links.reconnect(p)
    host.run_until(1100.0)
    assert host.table.ready >= set(PEERS) and host.table.handshaking == set()
    starts = [(e["ts"] - 1000.0, e["peer"]) for e in host.of(ev.HANDSHAKE_START)]
    assert [p for _, p in starts] == PEERS  # first come, first served
    # three at once (the burst), then one per token, half a second apart
    assert [round(t, 6) for t, _ in starts] == [0, 0, 0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    queued = host.of(ev.HANDSHAKE_DEFERRED)
    assert [e["peer"] for e in queued if e["why"] == "admission"] == PEERS[3:]
    assert [e["ahead"] for e in queued if e["why"] == "admission"] == list(range(7))
    # read from the log as the metrics read it
    assert in_progress_max(host.events) == {"agent_0": 3}
    assert bucket_excess([1000.0 + t for t, _ in starts], 2.0, 3) <= 0


def test_slow_answers_hold_the_slots_so_no_more_than_burst_are_in_progress() -> None:
    host = FakeHost(PEERS, pacing(rate=100.0, burst=2), latency=0.3)  # tokens aplenty
    for p in PEERS:
        host.links.reconnect(p)
    host.run_until(1100.0)
    starts = [round(e["ts"] - 1000.0, 6) for e in host.of(ev.HANDSHAKE_START)]
    assert starts == [0, 0, 0.3, 0.3, 0.6, 0.6, 0.9, 0.9, 1.2, 1.2]  # two at a time
    assert in_progress_max(host.events) == {"agent_0": 2}
    assert host.table.ready >= set(PEERS)


def test_an_unanswered_peer_is_asked_again_on_the_seeded_jittered_backoff() -> None:
    p = pacing(rate=100.0, burst=10)
    host = FakeHost(["agent_1"], p)
    host.answering.clear()  # the peer never answers
    host.links.reconnect("agent_1")
    host.run_until(1030.0)
    rng = p.rng("agent_0", "agent_1")
    expected = [p.backoff.wait(k, rng) for k in range(5)]
    waits = [e["wait"] for e in host.of(ev.HANDSHAKE_DEFERRED) if e["why"] == "backoff"]
    assert len(waits) >= 5  # logged to the microsecond
    assert all(abs(a - b) < 1e-6 for a, b in zip(waits[:5], expected, strict=True))
    starts = [e["ts"] for e in host.of(ev.HANDSHAKE_START)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(abs(g - w) < 1e-6 for g, w in zip(gaps[:5], expected, strict=False))
    assert 0.8 <= gaps[0] <= 1.2 and 1.28 <= gaps[1] <= 1.92 and 2.048 <= gaps[2] <= 3.072
    # the peer goes away: the loop ends at its next turn, with nothing more sent
    host.alive.clear()
    sent = len(host.sent)
    host.run_until(1400.0)
    assert len(host.sent) == sent and host.table.handshaking == set()


def test_an_answer_ends_the_loop_and_a_new_loss_starts_again_from_the_first_wait() -> None:
    host = FakeHost(["agent_1"], pacing(rate=100.0, burst=10, jitter=0.0))
    host.answering.clear()
    host.links.reconnect("agent_1")
    host.run_until(1000.0 + 1.0 + 1.6 + 0.1)  # attempts at 0, 1.0 and 2.6 s, unanswered
    assert len(host.of(ev.HANDSHAKE_START)) == 3
    host.answer("agent_1")  # the third is answered late: its loop ends now
    assert "agent_1" not in host.table.handshaking
    host.table.ready.discard("agent_1")  # lost again ...
    host.links.reconnect("agent_1")  # ... so a new loop, whose first attempt goes at once
    assert len(host.of(ev.HANDSHAKE_START)) == 4
    host.run_until(1000.0 + 5.2)  # past the old loop's next turn (5.16 s), before the new one's
    # only the new loop's retry (1 s after its start), none from the ended loop
    assert [round(e["ts"] - 1000.0, 6) for e in host.of(ev.HANDSHAKE_START)] == [
        0.0, 1.0, 2.6, 2.7, 3.7]
    assert [e["attempt"] for e in host.of(ev.HANDSHAKE_DEFERRED)] == [1, 2, 3, 1, 2]


def test_a_refused_attempt_takes_no_token_and_goes_again_when_the_link_is_up() -> None:
    host = FakeHost(["agent_1", "agent_2"], pacing(rate=0.01, burst=1))  # one token, ~no refill
    host.links_up.discard("agent_1")
    host.links.reconnect("agent_1")  # refused: no link; the token comes back
    host.links.reconnect("agent_2")  # takes that one token
    assert [(e["peer"], e["sent"]) for e in host.of(ev.HANDSHAKE_START)] == [
        ("agent_1", False), ("agent_2", True)]
    host.run_until(1001.0)
    host.link_up("agent_1")  # no token left: it queues for the next one, 100 s on
    assert host.of(ev.HANDSHAKE_DEFERRED)[-1]["why"] == "admission"
    host.run_until(1099.0)
    assert "agent_1" not in host.table.ready
    host.run_until(1101.0)
    assert host.table.ready >= {"agent_1", "agent_2"}
