"""A node's reaction to losing a peer, as its protocol's `FailureDesign` says — in one place.

`Recovery` takes what the node observes (a peer suspected by the membership view, a connection
closed, a send refused, a request timed out, a pong, a peer back) and returns *decisions*:
`Lose` a peer (stop routing to it, settle its hops in flight, then reconnect) and `Ping` one.
For each hop in flight to a lost peer, `keeps_hop` says whether the protocol holds it and asks
the same peer again (``on_lost: resubscribe``) or lets the agent re-publish it. The agent
(`fsr.agents.agent`) and its hop tracker (`fsr.agents.hops`) only carry decisions out, so a
reader finds one protocol's whole reaction to a SIGKILL here, in its design (the protocol's
module: `DESIGN`, with the source of every knob) and in its adapter's hooks (`send_ping`,
`recover`, `open_requests`, `start_handshake`).

In a mixed mesh (``protocols.by_role``) each peer is handled by the design of the protocol it
speaks (`by_peer`): a hop to an a2a agent is held as a2a holds it, one to a json agent is
re-published on json's heartbeat timeout.

Its columns of the node's `PeerTable` (`fsr.protocols.peers`) are which peers completed a
handshake (ready) and how many pings each left unanswered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fsr.protocols.failure import Backoff, FailureDesign
from fsr.protocols.peers import PeerTable


@dataclass(frozen=True)
class Lose:
    """Stop using `peer` until a new handshake; settle its hops (`keeps_hop`); reconnect."""

    peer: str
    how: str  # the signal, as logged in peer_lost / hop_failed: heartbeat_timeout, ...


@dataclass(frozen=True)
class Ping:
    """Send liveness ping number `seq` to `peer` (the adapter's own frame)."""

    peer: str
    seq: int


Decision = Lose | Ping


class Recovery:
    """What the design decides on each observation; it keeps the ping schedule's counts."""

    def __init__(self, design: FailureDesign, peers: PeerTable,
                 by_peer: Mapping[str, FailureDesign] | None = None) -> None:
        self.design = design  # the node's own protocol's: every peer's but `by_peer`'s
        self.by_peer = dict(by_peer or {})
        self.peers = peers
        self._ping_seq = 0

    def design_of(self, peer: str) -> FailureDesign:
        """The design that handles `peer`: its protocol's."""
        return self.by_peer.get(peer, self.design)

    def ping_designs(self) -> list[FailureDesign]:
        """The designs with a ping schedule among this node's (each runs its own rounds)."""
        found = [self.design, *self.by_peer.values()]
        return [d for i, d in enumerate(found) if "ping" in d.liveness and d.ping_interval
                and d not in found[:i]]

    def suspected(self, peer: str, how: str) -> list[Decision]:
        """The membership view suspects `peer`. The heartbeat channel is every protocol's
        membership view; only a design that lists it stops using a peer for its silence. A
        new incarnation means the old process and its connections are gone, whatever the
        design."""
        if "heartbeat" in self.design_of(peer).liveness or how == "new_incarnation":
            return [Lose(peer, how)]
        return []

    def disconnected(self, peer: str, open_request: bool) -> list[Decision]:
        """``stream``: the connection of an open request closed (an SSE stream dropping)."""
        if "stream" in self.design_of(peer).liveness and open_request:
            return [Lose(peer, "stream_closed")]
        return []

    def timed_out(self, peer: str) -> list[Decision]:
        """A request to `peer` got no answer in time: without heartbeats, the only sign of a
        hung peer, so the design stops using it."""
        if "heartbeat" not in self.design_of(peer).liveness:
            return [Lose(peer, "request_timeout")]
        return []

    def send_refused(self, peer: str) -> list[Decision]:
        """The transport refused a send to `peer` (no live connection): a lost peer in every
        design — whether it is dead is still the membership view's call."""
        return [] if peer == self.peers.node_id else [Lose(peer, "send_failed")]

    def returned(self, peer: str) -> None:
        """`peer`'s heartbeat is back (joined, restarted, resumed): handshake with it again."""
        self.peers.ready.discard(peer)

    def pong(self, peer: str) -> None:
        self.peers.ping_misses[peer] = 0

    def ping_round(self, design: FailureDesign | None = None) -> list[Decision]:
        """``ping``: one ping to each peer in use that `design` (default: the node's own)
        handles; `ping_misses` unanswered and it is lost. A ping the transport cannot send
        counts as unanswered."""
        design = design or self.design
        out: list[Decision] = []
        if "ping" not in design.liveness:
            return out
        for peer in self.peers.others():
            if self.by_peer and self.design_of(peer) != design:
                continue
            misses = self.peers.ping_misses.get(peer, 0)
            if misses >= design.ping_misses:
                out.append(Lose(peer, "ping_timeout"))
                continue
            self.peers.ping_misses[peer] = misses + 1
            self._ping_seq += 1
            out.append(Ping(peer, self._ping_seq))
        return out

    def keeps_hop(self, peer: str, recover: Callable[[Backoff], bool]) -> bool:
        """A hop in flight to lost `peer`: True if the protocol holds it — its design
        resubscribes and its adapter takes it on (`recover`, on the design's backoff) — False
        if the agent re-publishes it now."""
        d = self.design_of(peer)
        return d.on_lost == "resubscribe" and d.backoff is not None and recover(d.backoff)
