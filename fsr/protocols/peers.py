"""A node's table of its peers: everything the node knows of each, in one object per node.

Each party writes its own columns, and anyone may read them all (`PeerTable.view`):

* the membership view — over the heartbeat channel (`fsr.bus.heartbeat`): when each peer was last
  heard, its process incarnation, its inter-arrival history and the deadline the failure
  detector (`fsr.bus.detectors`) draws from it, whether it is suspected (`liveness`); with SWIM
  (`fsr.bus.swim`): each member's SWIM record (`swim`: alive / suspect / dead, its SWIM
  incarnation number and process);
* the protocol's recovery (`fsr.protocols.recovery`, carried out by `fsr.agents.links`): which
  peers completed a handshake and are routable (`ready`), which a handshake loop is running for
  (`handshaking`), and how many pings each left unanswered (`ping_misses`).

`MeshNode` (`fsr.bus.node`) makes it, so every node has exactly one, the runner included.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_SAMPLE_SIZE = 1000  # Akka's max-sample-size, Cassandra's SAMPLE_SIZE (`fsr.bus.detectors`)


@dataclass
class Arrivals:
    """A peer's last inter-arrival times (seconds), with running sums for mean and variance."""

    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLE_SIZE))
    total: float = 0.0
    squares: float = 0.0

    def add(self, interval: float) -> None:
        if len(self.intervals) == self.intervals.maxlen:
            old = self.intervals[0]
            self.total -= old
            self.squares -= old * old
        self.intervals.append(interval)
        self.total += interval
        self.squares += interval * interval

    def mean(self) -> float:
        return self.total / len(self.intervals)

    def std(self) -> float:
        m = self.mean()
        return math.sqrt(max(0.0, self.squares / len(self.intervals) - m * m))


@dataclass
class Liveness:
    """The heartbeat channel's view of one peer (`fsr.bus.heartbeat`): when it was last heard,
    as which process, and when its silence makes it suspected (the detector's deadline)."""

    last_seen: float
    incarnation: str  # the peer's process incarnation, as its heartbeats carry it
    suspected: bool = False
    arrivals: Arrivals | None = None  # its inter-arrival history, if the detector keeps one
    deadline: float = 0.0  # suspected once the clock passes this (`fsr.bus.detectors`)
    # the starvation guard (`fsr.bus.starvation`): the observer's run-queue clock at the last
    # heartbeat, and how much of its wait since then the deadline has already been moved by
    queued_at_seen: float = 0.0
    excused: float = 0.0


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
