"""Heartbeat monitor — Paranoid Pirate over the PUB/SUB channel (ZeroMQ Guide, ch. 4).

Every node publishes a heartbeat each `interval` seconds. A peer is *suspected dead* once
`liveness` intervals pass without one (Paranoid Pirate's liveness counter, kept as a deadline
``last_seen + interval * liveness`` so it does not depend on how often `check` runs). A heartbeat
from a suspected peer — or one carrying a new incarnation, i.e. the process was restarted — marks
it *returned*, which starts a reconnection handshake. Optionally (the fast path) a ZeroMQ
disconnect event suspects the peer at once.

With the starvation guard (``heartbeat.starvation_guard``, `fsr.bus.starvation`), the time this
observer itself spent waiting for a CPU since a peer's last heartbeat does not count against the
peer: the peer's deadline moves by it, once, when it would otherwise be passed.

Pure logic over timestamps: the caller feeds in heartbeats, the clock and the guard's run-queue
clock; nothing here sleeps.
What it knows of each peer it keeps in the node's peer table (`PeerTable.liveness`,
`fsr.protocols.peers`).
"""

from __future__ import annotations

from fsr.bus.detectors import Detector, Fixed
from fsr.bus.starvation import WaitClock
from fsr.protocols.base import Heartbeat
from fsr.protocols.peers import Liveness, PeerTable


class HeartbeatMonitor:
    def __init__(self, interval: float, liveness: int, table: PeerTable,
                 detector: Detector | None = None, guard: WaitClock | None = None) -> None:
        # when a silent peer is suspected (`fsr.bus.detectors`); Paranoid Pirate's fixed
        # deadline unless the config says otherwise
        self.detector = detector or Fixed(interval * liveness)
        self.peers = table.liveness  # its column of the node's peer table
        self.guard = guard
        self.deferred: list[tuple[str, float]] = []  # (peer, s excused), until the caller reads

    def seen(self, hb: Heartbeat, now: float) -> str | None:
        """Record a heartbeat; "joined", "restarted" or "resumed" when the peer (re)appears."""
        state = self.peers.get(hb.node_id)
        if state is None or hb.incarnation != state.incarnation:
            arrivals = self.detector.start()  # a new process: a new history
            self.peers[hb.node_id] = Liveness(now, hb.incarnation, arrivals=arrivals,
                                              deadline=self.detector.deadline(arrivals, now),
                                              queued_at_seen=self._queued())
            return "joined" if state is None else "restarted"
        change = "resumed" if state.suspected else None
        self.detector.arrived(state.arrivals, now - state.last_seen, state.suspected)
        state.last_seen, state.suspected = now, False
        state.deadline = self.detector.deadline(state.arrivals, now)
        state.queued_at_seen, state.excused = self._queued(), 0.0
        return change

    def _queued(self) -> float:
        return 0.0 if self.guard is None else self.guard.waited()

    def check(self, now: float) -> list[tuple[str, float]]:
        """Peers that just crossed their deadline, with how long they had been silent."""
        newly = []
        queued: float | None = None  # read once, and only when a deadline has passed
        for peer, state in self.peers.items():
            if state.suspected or now <= state.deadline:
                continue
            if self.guard is not None:
                queued = self._queued() if queued is None else queued
                starved = queued - state.queued_at_seen - state.excused
                if starved > 0:  # this observer's own wait for a CPU: not the peer's silence
                    state.deadline += starved
                    state.excused += starved
                    self.deferred.append((peer, starved))
                    if now <= state.deadline:
                        continue
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
