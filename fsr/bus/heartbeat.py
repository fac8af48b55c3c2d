"""Heartbeat monitor — Paranoid Pirate over the PUB/SUB channel (ZeroMQ Guide, ch. 4).

Every node publishes a heartbeat each `interval` seconds. A peer is *suspected dead* once
`liveness` intervals pass without one (Paranoid Pirate's liveness counter, kept as a deadline
``last_seen + interval * liveness`` so it does not depend on how often `check` runs). A heartbeat
from a suspected peer — or one carrying a new incarnation, i.e. the process was restarted — marks
it *returned*, which starts a reconnection handshake. Optionally (the fast path) a ZeroMQ
disconnect event suspects the peer at once.

Pure logic over timestamps: the caller feeds in heartbeats and the clock; nothing here sleeps.
What it knows of each peer it keeps in the node's peer table (`PeerTable.liveness`,
`fsr.protocols.peers`).
"""

from __future__ import annotations

from fsr.bus.detectors import Detector, Fixed
from fsr.protocols.base import Heartbeat
from fsr.protocols.peers import Liveness, PeerTable


class HeartbeatMonitor:
    def __init__(self, interval: float, liveness: int, table: PeerTable,
                 detector: Detector | None = None) -> None:
        # when a silent peer is suspected (`fsr.bus.detectors`); Paranoid Pirate's fixed
        # deadline unless the config says otherwise
        self.detector = detector or Fixed(interval * liveness)
        self.peers = table.liveness  # its column of the node's peer table

    def seen(self, hb: Heartbeat, now: float) -> str | None:
        """Record a heartbeat; "joined", "restarted" or "resumed" when the peer (re)appears."""
        state = self.peers.get(hb.node_id)
        if state is None or hb.incarnation != state.incarnation:
            arrivals = self.detector.start()  # a new process: a new history
            self.peers[hb.node_id] = Liveness(now, hb.incarnation, arrivals=arrivals,
                                              deadline=self.detector.deadline(arrivals, now))
            return "joined" if state is None else "restarted"
        change = "resumed" if state.suspected else None
        self.detector.arrived(state.arrivals, now - state.last_seen, state.suspected)
        state.last_seen, state.suspected = now, False
        state.deadline = self.detector.deadline(state.arrivals, now)
        return change

    def check(self, now: float) -> list[tuple[str, float]]:
        """Peers that just crossed their deadline, with how long they had been silent."""
        newly = []
        for peer, state in self.peers.items():
            if not state.suspected and now > state.deadline:
                state.suspected = True
                newly.append((peer, now - state.last_seen))
        return newly

    def disconnected(self, peer: str, now: float) -> float | None:
        """Fast path: suspect `peer` now; returns its silence, or None if already suspected."""
        state = self.peers.get(peer)
        if state is None or state.suspected:
            return None
        state.suspected = True
        return now - state.last_seen

    def alive(self, peer: str) -> bool:
        state = self.peers.get(peer)
        return state is not None and not state.suspected

    def next_deadline(self) -> float | None:
        live = [s.deadline for s in self.peers.values() if not s.suspected]
        return min(live) if live else None
