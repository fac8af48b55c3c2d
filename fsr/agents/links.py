"""An agent's links to its peers: it carries out its protocol's recovery decisions
(`fsr.protocols.recovery`) and runs the handshakes that make a peer routable again.

Losing a peer (`Lose`): it stops being routable, the peer_lost event is logged when it was in
use, each hop in flight to it is held or failed (`fsr.agents.hops.HopTracker.peer_lost`), and a
handshake loop starts. The loop — one per peer, however many reasons to reconnect arrive — sends
the protocol's handshake until it completes (`peer_ready`) or the membership view no longer
holds the peer alive. How it paces its attempts is ``recovery.reconnect``:

* ``immediate`` (the default) — at once, asking again after FIRST_WAIT, doubling up to the hop
  timeout;
* ``batched`` — each attempt admitted by the node's `fsr.agents.pacing.Admission` (a token
  bucket, and at most ``recovery.burst`` attempts in progress), queued in order when it may not
  go yet (``handshake_deferred``, why ``admission``), and each one waiting gRPC's jittered
  backoff for its answer before the next (``handshake_deferred``, why ``backoff``, with the
  wait). A completed handshake ends the loop at once and resets its backoff (gRPC: "Reset
  Backoff", when the connection is accepted).
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from fsr import events as ev
from fsr.agents.pacing import Admission, Pacing
from fsr.protocols import FailureDesign, ProtocolAdapter
from fsr.protocols.peers import PeerTable
from fsr.protocols.recovery import Decision, Ping, Recovery

if TYPE_CHECKING:
    from fsr.agents.hops import HopTracker

FIRST_WAIT = 0.25  # seconds before the first handshake is asked again
RECONNECT_DELAY = 0.05  # after a loss, so the loss's own events settle first


class LinkHost(Protocol):
    hops: HopTracker
    node_id: str

    def adapter_for(self, peer: str) -> ProtocolAdapter: ...

    def record(self, event: str, **fields: object) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    def when_link_up(self, peer: str, fn: Callable[[], None]) -> None: ...

    def peer_alive(self, peer: str) -> bool: ...


class PeerLinks:
    def __init__(self, host: LinkHost, peers: PeerTable, design: FailureDesign,
                 hop_timeout: float, pacing: Pacing | None = None,
                 clock: Callable[[], float] = time.time,
                 by_peer: Mapping[str, FailureDesign] | None = None) -> None:
        self.host = host
        self.peers = peers  # the node's table (`MeshNode.peers`); recovery writes its columns
        self.recovery = Recovery(design, self.peers, by_peer)
        self.hop_timeout = hop_timeout
        self.pacing = pacing  # None: recovery.reconnect immediate
        self.clock = clock  # the host's: `call_later` counts from it
        self.admission = None if pacing is None else Admission(pacing.rate, pacing.burst, clock())
        self._rngs: dict[str, random.Random] = {}  # batched: each peer's jitter
        self._loops: dict[str, int] = {}  # batched: each peer's loop, so a stale timer is ignored
        self._pump_at = math.inf  # batched: when the admission queue is next looked at

    # -- observations in, decisions carried out ----------------------------------------------
    def suspected(self, peer: str, how: str) -> None:
        self.carry_out(self.recovery.suspected(peer, how))

    def disconnected(self, peer: str) -> None:
        self.carry_out(self.recovery.disconnected(
            peer, self.host.adapter_for(peer).open_requests(peer)))

    def timed_out(self, peer: str) -> None:
        self.carry_out(self.recovery.timed_out(peer))

    def send_refused(self, peer: str) -> None:
        self.carry_out(self.recovery.send_refused(peer))

    def returned(self, peer: str) -> None:
        self.recovery.returned(peer)
        self.reconnect(peer)

    def start_pings(self) -> None:
        for d in self.recovery.ping_designs():
            assert d.ping_interval is not None
            self.host.call_later(d.ping_interval, functools.partial(self._ping_round, d))

    def _ping_round(self, design: FailureDesign) -> None:
        self.carry_out(self.recovery.ping_round(design))
        assert design.ping_interval is not None
        self.host.call_later(design.ping_interval, functools.partial(self._ping_round, design))

    def carry_out(self, decisions: list[Decision]) -> None:
        for d in decisions:
            if isinstance(d, Ping):
                self.host.adapter_for(d.peer).send_ping(d.peer, d.seq)
            else:
                self._lose(d.peer, d.how)

    def _lose(self, peer: str, how: str) -> None:
        hops = self.host.hops
        if self.peers.drop(peer) or hops.has(peer):
            self.host.record(ev.PEER_LOST, peer=peer, how=how)
        hops.peer_lost(peer, how)
        self.host.call_later(RECONNECT_DELAY, lambda: self.reconnect(peer))

    # -- reconnection -------------------------------------------------------------------------
    def reconnect(self, peer: str) -> None:
        if peer not in self.peers.handshaking:
            self.peers.handshaking.add(peer)
            if self.admission is None:
                self._handshake_turn(peer, FIRST_WAIT)
            else:
                loop = self._loops[peer] = self._loops.get(peer, 0) + 1
                self._paced_turn(peer, loop, 0)

    def ready(self, peer: str) -> None:
        """`peer` completed a handshake with this node (its ``handshake_done``)."""
        if self.admission is not None:
            # the loop ends now, not at its next turn: a loss meanwhile starts a fresh loop,
            # with its backoff reset, instead of waiting out this one's (up to max_backoff)
            self._loops[peer] = self._loops.get(peer, 0) + 1
            self.peers.handshaking.discard(peer)
            if self.admission.release(peer):
                self._pump()

    def _handshake_turn(self, peer: str, wait: float) -> None:
        host = self.host
        if peer in self.peers.ready or not host.peer_alive(peer):
            self.peers.handshaking.discard(peer)
            return
        sent = host.adapter_for(peer).start_handshake(peer)
        host.record(ev.HANDSHAKE_START, peer=peer, sent=sent)
        if not sent:  # our link to the peer is not up yet: try again once it is
            host.when_link_up(peer, lambda: self._handshake_turn(peer, wait))
            return
        # No answer (its link back to us may not have been up): ask again, backing off up to
        # the hop timeout so a slow peer is not flooded with handshakes.
        host.call_later(wait, lambda: self._handshake_turn(peer, min(2 * wait,
                                                                     self.hop_timeout)))

    # -- recovery.reconnect batched (`fsr.agents.pacing`) --------------------------------------
    def _paced_turn(self, peer: str, loop: int, attempt: int) -> None:
        """Attempt `attempt` of `peer`'s loop is due: the previous one's wait has run out."""
        adm = self.admission
        if adm is None or self._loops.get(peer) != loop:
            return  # the loop ended (the peer answered) and may have started again since
        if adm.release(peer):
            self._pump()  # its slot is free: whoever queued first goes first
        if peer in self.peers.ready or not self.host.peer_alive(peer):
            self.peers.handshaking.discard(peer)
            return
        now = self.clock()
        if adm.queue or adm.wait(now) > 0:
            adm.queue.append((peer, loop, attempt))
            self.host.record(ev.HANDSHAKE_DEFERRED, peer=peer, attempt=attempt, why="admission",
                             ahead=len(adm.queue) - 1, in_progress=len(adm.in_progress),
                             tokens=round(adm.bucket.tokens(now), 3))
            self._pump()
            return
        self._paced_attempt(peer, loop, attempt)

    def _paced_attempt(self, peer: str, loop: int, attempt: int) -> None:
        adm, pacing, host = self.admission, self.pacing, self.host
        assert adm is not None and pacing is not None
        now = self.clock()
        if not adm.start(peer, now):
            raise RuntimeError("a handshake attempt started without admission")
        sent = host.adapter_for(peer).start_handshake(peer)
        host.record(ev.HANDSHAKE_START, peer=peer, sent=sent)
        if not sent:  # no live link yet: the token comes back; try again once the link is up
            adm.refused(peer, now)
            host.when_link_up(peer, lambda: self._paced_turn(peer, loop, attempt))
            return
        rng = self._rngs.get(peer)
        if rng is None:
            rng = self._rngs[peer] = pacing.rng(host.node_id, peer)
        wait = pacing.backoff.wait(attempt, rng)
        # its slot is held from its admission (`now`, before its line was logged) until the
        # wait runs out counted from after that line: at least the span the log shows
        adm.sent(peer, self.clock() + wait)
        host.record(ev.HANDSHAKE_DEFERRED, peer=peer, attempt=attempt + 1, why="backoff",
                    wait=math.floor(wait * 1e6) / 1e6)  # never past the slot's deadline
        host.call_later(wait, lambda: self._paced_turn(peer, loop, attempt + 1))

    def _pump(self) -> None:
        """Start the queued attempts admission now allows, in order; when a token is what is
        missing, look again when one will be there (a freed slot calls this itself)."""
        adm = self.admission
        assert adm is not None
        while adm.queue:
            peer, loop, attempt = adm.queue[0]
            if self._loops.get(peer) != loop:  # that loop ended while it waited
                adm.queue.popleft()
                continue
            if peer in self.peers.ready or not self.host.peer_alive(peer):
                adm.queue.popleft()
                self.peers.handshaking.discard(peer)
                continue
            now = self.clock()
            wait = adm.wait(now)
            if wait == math.inf:
                nxt = min(adm.in_progress.values())  # the first attempt whose wait runs out
                if nxt < math.inf:
                    self._pump_later(nxt - now)
                return
            if wait > 0:
                self._pump_later(wait)
                return
            adm.queue.popleft()
            self._paced_attempt(peer, loop, attempt)

    def _pump_later(self, delay: float) -> None:
        at = self.clock() + delay
        if at < self._pump_at:  # one timer for the earliest moment anything can go
            self._pump_at = at

            def pump() -> None:
                if self._pump_at == at:
                    self._pump_at = math.inf
                self._pump()

            self.host.call_later(delay, pump)
