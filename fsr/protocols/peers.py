"""A node's table of its peers: everything the node knows of each, in one object per node.

Each party writes its own columns, and anyone may read them all (`PeerTable.view`):

* the membership view — over the heartbeat channel (`fsr.bus.heartbeat`): when each peer was last
  heard, its process incarnation, whether it is suspected (`liveness`); with SWIM
  (`fsr.bus.swim`): each member's SWIM record (`swim`: alive / suspect / dead, its SWIM
  incarnation number and process);
* the protocol's recovery (`fsr.protocols.recovery`, carried out by `fsr.agents.links`): which
  peers completed a handshake and are routable (`ready`), which a handshake loop is running for
  (`handshaking`), and how many pings each left unanswered (`ping_misses`).

`MeshNode` (`fsr.bus.node`) makes it, so every node has exactly one, the runner included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Liveness:
    """The heartbeat channel's view of one peer (Paranoid Pirate, `fsr.bus.heartbeat`)."""

    last_seen: float
    incarnation: str  # the peer's process incarnation, as its heartbeats carry it
    suspected: bool = False


@dataclass
class Member:
    """SWIM's record of one member (`fsr.bus.swim`)."""

    state: str = "alive"  # alive | suspect | dead
    incarnation: int = 0  # SWIM's incarnation number, which a refutation raises
    process: str | None = None  # the member's process incarnation, once heard of
    last_heard: float = 0.0
    suspect_until: float | None = None


@dataclass
class PeerTable:
    node_id: str
    liveness: dict[str, Liveness] = field(default_factory=dict)
    swim: dict[str, Member] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # completed a handshake: routable
    handshaking: set[str] = field(default_factory=set)  # a handshake loop is running
    ping_misses: dict[str, int] = field(default_factory=dict)  # pings since the last pong

    def __post_init__(self) -> None:
        self.ready.add(self.node_id)  # hops to itself need no handshake

    def drop(self, peer: str) -> bool:
        """Forget that `peer` is routable; whether it was."""
        was = peer in self.ready
        self.ready.discard(peer)
        self.ping_misses.pop(peer, None)
        return was

    def others(self) -> list[str]:
        """The routable peers other than this node."""
        return sorted(self.ready - {self.node_id})

    def view(self, peer: str) -> dict[str, Any]:
        """Everything the node knows of `peer`, from every column (for tests and debugging)."""
        return {"liveness": self.liveness.get(peer), "swim": self.swim.get(peer),
                "ready": peer in self.ready, "handshaking": peer in self.handshaking,
                "ping_misses": self.ping_misses.get(peer, 0)}
