"""MeshNode: the event loop every process of a run shares (agents and the runner).

One thread, one `zmq.Poller`, a timer heap. Each turn: run due timers, read every ready socket,
turn heartbeats into liveness changes, hand protocol messages and control messages to the
subclass's handlers, flush the log. Subclasses override the ``on_*`` hooks.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

import zmq

from fsr.bus.heartbeat import HeartbeatMonitor
from fsr.bus.mesh import Mesh
from fsr.bus.security import Curve
from fsr.bus.wire import frame_bytes
from fsr.eventlog import EventLog
from fsr.protocols import LocalInfo, MalformedFrame, Message, ProtocolAdapter, adapter_class
from fsr.protocols.base import Heartbeat


class MeshNode:
    def __init__(self, *, node_id: str, protocol: str, log: EventLog, data_port: int,
                 hb_port: int | None, role: str, incarnation: str, hb_interval: float,
                 hb_liveness: int, fast_path: bool = False,
                 keys: dict[str, tuple[bytes, bytes]] | None = None) -> None:
        self.node_id = node_id
        self.log = log
        # A context of its own, not the process-wide instance: one node's sockets can never
        # hold up another's I/O thread (tests run several nodes in one process).
        self.ctx = zmq.Context()
        # keys: the run's CURVE keys (`fsr.bus.security`); None is security "none"
        curve = Curve(self.ctx, node_id, keys) if keys is not None else None
        self.mesh = Mesh(self.ctx, node_id, log, data_port, hb_port, curve)
        self.local = LocalInfo(node_id, role, incarnation, data_port)
        self.adapter: ProtocolAdapter = adapter_class(protocol)(self, self.local)
        self.monitor = HeartbeatMonitor(hb_interval, hb_liveness)
        self.hb_interval = hb_interval
        self.fast_path = fast_path
        self.poller = zmq.Poller()
        for sock in self.mesh.poll_sockets():
            self.poller.register(sock, zmq.POLLIN)
        self._watchers: dict[Any, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._hb_seq = 0
        self.running = True

    # -- Transport, as seen by the protocol adapter -------------------------------------------
    def send_frame(self, dest: str, frame: Any) -> bool:
        return self.mesh.send_frame(dest, frame)

    def recv_frame(self) -> tuple[str, bytes] | None:
        return self.mesh.recv_frame()

    def record(self, event: str, **fields: Any) -> None:
        self.log.log(event, **fields)

    def add_peer(self, peer: str, data_port: int, hb_port: int | None) -> None:
        self.poller.register(self.mesh.add_peer(peer, data_port, hb_port), zmq.POLLIN)

    # -- timers -------------------------------------------------------------------------------
    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), fn))

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.call_at(time.time() + delay, fn)

    def start_heartbeats(self) -> None:
        def beat() -> None:
            self._hb_seq += 1
            hb = Heartbeat(self.node_id, self.local.incarnation, self._hb_seq)
            self.mesh.publish(self.adapter.encode_heartbeat(hb), self._hb_seq)
            self.call_later(self.hb_interval, beat)

        beat()

    def watch(self, fd: Any, callback: Callable[[], None]) -> None:
        """Poll a socket or file descriptor too, calling `callback` when it is readable."""
        self._watchers[fd] = callback
        self.poller.register(fd, zmq.POLLIN)

    # -- the loop -----------------------------------------------------------------------------
    def step(self, max_wait: float = 0.05) -> None:
        now = time.time()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()
        wait = max_wait
        if self._timers:
            wait = min(wait, max(0.0, self._timers[0][0] - time.time()))
        deadline = self.monitor.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - time.time()) + 0.001)
        ready = dict(self.poller.poll(wait * 1000))
        for fd, callback in self._watchers.items():
            if fd in ready:
                callback()
        if self.mesh.sub in ready:
            self._read_heartbeats()
        if self.mesh.router in ready:
            self._read_inbox()
        for mon in self.mesh.monitors:
            if mon in ready:
                event = self.mesh.read_monitor(mon)
                if event is None:
                    continue
                if self.fast_path:
                    silent = self.monitor.disconnected(event[0], time.time())
                    if silent is not None:
                        self._suspect(event[0], "socket_disconnect", silent)
                self.on_peer_disconnected(event[0])
        for peer, silent in self.monitor.check(time.time()):
            self._suspect(peer, "heartbeat_timeout", silent)
        self.adapter.tick(time.time())
        self.log.flush()

    def _read_heartbeats(self) -> None:
        while (data := self.mesh.recv_heartbeat()) is not None:
            try:
                hb = self.adapter.decode_heartbeat(data)
            except MalformedFrame as exc:
                self.log.log("frame_dropped", src="?", reason=str(exc)[:200], wire=len(data))
                continue
            if hb.node_id == self.node_id:
                continue
            self.log.log("hb_seen", src=hb.node_id, seq=hb.seq, cat="heartbeat",
                         **self.mesh.wire(frame_bytes, len(data)))
            prev = self.monitor.peers.get(hb.node_id)
            was_alive, last_seen = prev is not None and not prev.suspected, prev and prev.last_seen
            now = time.time()
            change = self.monitor.seen(hb, now)
            if change == "restarted" and was_alive:
                # Restarted before its silence crossed the deadline: the new incarnation is how
                # this node learns the old process is gone.
                self._suspect(hb.node_id, "new_incarnation", now - (last_seen or now))
            if change:
                self.log.log("peer_returned" if change != "joined" else "peer_joined",
                             peer=hb.node_id, how=change, incarnation=hb.incarnation)
                self.on_peer_alive(hb.node_id, change)

    def _read_inbox(self) -> None:
        self.mesh.inbox_drained = False
        while not self.mesh.inbox_drained:
            for msg in self.adapter.receive_message():
                if msg.kind == "pong":
                    self.on_pong(msg.sender)
                elif msg.kind == "peer_ready":
                    self.log.log("handshake_done", peer=msg.sender, role=msg.body.get("role"),
                                 incarnation=msg.body.get("incarnation"))
                    self.on_peer_ready(msg.sender, msg.body)
                elif (why := self.check_message(msg)) is not None:
                    self.log.log("frame_dropped", src=msg.sender, reason=why[:200],
                                 kind=msg.kind[:40], mid=msg.msg_id[:40])
                else:
                    self.log.emit("deliver", src=msg.sender, kind=msg.kind, mid=msg.msg_id)
                    self.on_message(msg)
            while self.mesh.control_inbox:
                sender, body = self.mesh.control_inbox.popleft()
                self.on_control(sender, body)

    def _suspect(self, peer: str, how: str, silent: float) -> None:
        self.log.log("peer_suspected", peer=peer, how=how, silent_ms=round(silent * 1000, 3))
        self.on_peer_suspected(peer, how)

    # -- hooks --------------------------------------------------------------------------------
    def on_peer_alive(self, peer: str, how: str) -> None:
        """A peer's heartbeat appeared or reappeared (how: joined | restarted | resumed)."""

    def on_peer_suspected(self, peer: str, how: str) -> None:
        """The membership view (heartbeat channel) suspects `peer` (how: heartbeat_timeout |
        socket_disconnect | new_incarnation)."""

    def on_peer_disconnected(self, peer: str) -> None:
        """The transport closed our connection to `peer` (a ZeroMQ disconnect event)."""

    def on_pong(self, peer: str) -> None:
        """`peer` answered a liveness ping."""

    def hop_lost(self, msg_id: str, reason: str) -> None:
        """The adapter gave up on a request it was recovering (Transport.hop_lost)."""

    def on_peer_ready(self, peer: str, info: dict[str, Any]) -> None: ...

    def check_message(self, msg: Message) -> str | None:
        """Why an application message must be dropped before `on_message` sees it, or None."""
        return None

    def on_message(self, msg: Message) -> None: ...

    def on_control(self, sender: str, body: dict[str, Any]) -> None: ...

    def close(self) -> None:
        self.log.flush()
        self.mesh.close()
        self.ctx.term()
