"""An agent's links to its peers: it carries out its protocol's recovery decisions
(`fsr.protocols.recovery`) and runs the handshakes that make a peer routable again.

Losing a peer (`Lose`): it stops being routable, the peer_lost event is logged when it was in
use, each hop in flight to it is held or failed (`fsr.agents.hops.HopTracker.peer_lost`), and a
handshake loop starts. The loop — one per peer, however many reasons to reconnect arrive — sends
the protocol's handshake until it completes (`peer_ready`) or the membership view no longer
holds the peer alive, backing off up to the hop timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from fsr import events as ev
from fsr.protocols import FailureDesign, ProtocolAdapter
from fsr.protocols.peers import PeerTable
from fsr.protocols.recovery import Decision, Ping, Recovery

if TYPE_CHECKING:
    from fsr.agents.hops import HopTracker

FIRST_WAIT = 0.25  # seconds before the first handshake is asked again
RECONNECT_DELAY = 0.05  # after a loss, so the loss's own events settle first


class LinkHost(Protocol):
    adapter: ProtocolAdapter
    hops: HopTracker

    def record(self, event: str, **fields: object) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    def when_link_up(self, peer: str, fn: Callable[[], None]) -> None: ...

    def peer_alive(self, peer: str) -> bool: ...


class PeerLinks:
    def __init__(self, host: LinkHost, peers: PeerTable, design: FailureDesign,
                 hop_timeout: float) -> None:
        self.host = host
        self.peers = peers  # the node's table (`MeshNode.peers`); recovery writes its columns
        self.recovery = Recovery(design, self.peers)
        self.hop_timeout = hop_timeout

    # -- observations in, decisions carried out ----------------------------------------------
    def suspected(self, peer: str, how: str) -> None:
        self.carry_out(self.recovery.suspected(peer, how))

    def disconnected(self, peer: str) -> None:
        self.carry_out(self.recovery.disconnected(peer, self.host.adapter.open_requests(peer)))

    def timed_out(self, peer: str) -> None:
        self.carry_out(self.recovery.timed_out(peer))

    def send_refused(self, peer: str) -> None:
        self.carry_out(self.recovery.send_refused(peer))

    def returned(self, peer: str) -> None:
        self.recovery.returned(peer)
        self.reconnect(peer)

    def start_pings(self) -> None:
        d = self.recovery.design
        if "ping" in d.liveness and d.ping_interval:
            self.host.call_later(d.ping_interval, self._ping_round)

    def _ping_round(self) -> None:
        self.carry_out(self.recovery.ping_round())
        interval = self.recovery.design.ping_interval
        assert interval is not None
        self.host.call_later(interval, self._ping_round)

    def carry_out(self, decisions: list[Decision]) -> None:
        for d in decisions:
            if isinstance(d, Ping):
                self.host.adapter.send_ping(d.peer, d.seq)
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
            self._handshake_turn(peer, FIRST_WAIT)

    def _handshake_turn(self, peer: str, wait: float) -> None:
        host = self.host
        if peer in self.peers.ready or not host.peer_alive(peer):
            self.peers.handshaking.discard(peer)
            return
        sent = host.adapter.start_handshake(peer)
        host.record(ev.HANDSHAKE_START, peer=peer, sent=sent)
        if not sent:  # our link to the peer is not up yet: try again once it is
            host.when_link_up(peer, lambda: self._handshake_turn(peer, wait))
            return
        # No answer (its link back to us may not have been up): ask again, backing off up to
        # the hop timeout so a slow peer is not flooded with handshakes.
        host.call_later(wait, lambda: self._handshake_turn(peer, min(2 * wait,
                                                                     self.hop_timeout)))
