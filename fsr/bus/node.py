"""MeshNode: the event loop every process of a run shares (agents and the runner).

One thread, one epoll, a timer heap. Each turn: run due timers, read every ready socket, turn
heartbeats into liveness changes, hand protocol messages and control messages to the subclass's
handlers, hand the frames held in the mesh's outbox to ZeroMQ (`Mesh.flush`), flush the log.
Subclasses override the ``on_*`` hooks.
"""

from __future__ import annotations

import heapq
import itertools
import select
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import zmq

from fsr import events as ev
from fsr.bus import mux
from fsr.bus.detectors import Detector
from fsr.bus.heartbeat import HeartbeatMonitor
from fsr.bus.inbound import ControlIn, FrameIn, SwimIn
from fsr.bus.mesh import HOST, Mesh
from fsr.bus.security import Curve
from fsr.bus.starvation import RunQueueClock
from fsr.bus.swim import Swim
from fsr.bus.wire import message_bytes
from fsr.eventlog import EventLog
from fsr.protocols import LocalInfo, MalformedFrame, Message, ProtocolAdapter, adapter_class, kinds
from fsr.protocols.base import Heartbeat, WireFrame
from fsr.protocols.peers import PeerTable


def _events(sock: zmq.Socket) -> int:
    # ZMQ_EVENTS as a plain int: pyzmq's Socket.get wraps it in an enum.Flag (1.3 µs more)
    return cast(int, zmq.backend.Socket.get(sock, zmq.EVENTS))


class MeshNode:
    SWEEP_INTERVAL = 0.5  # s between reads of the inbox and the SUB whether or not they fired

    def __init__(self, *, node_id: str, protocol: str, log: EventLog, data_port: int,
                 hb_port: int | None, role: str, incarnation: str, hb_interval: float,
                 hb_liveness: int, fast_path: bool = False,
                 keys: dict[str, tuple[bytes, bytes]] | None = None,
                 detector: Detector | None = None, starvation_guard: bool = False,
                 protocols: Mapping[str, str] | None = None, address: str = HOST) -> None:
        self.node_id = node_id
        self.log = log
        # A context of its own, not the process-wide instance: one node's sockets can never
        # hold up another's I/O thread (tests run several nodes in one process).
        self.ctx = zmq.Context()
        # keys: the run's CURVE keys (`fsr.bus.security`); None is security "none"
        curve = Curve(self.ctx, node_id, keys) if keys is not None else None
        self.mesh = Mesh(self.ctx, node_id, log, data_port, hb_port, curve, address)
        self.local = LocalInfo(node_id, role, incarnation, data_port)
        # `protocols`: what each node of the run speaks (`RunPlan.protocols`); a mixed mesh
        # (`fsr.bus.mux`) gives this node an adapter per protocol, each behind a tagging port
        self.protocol, self.protocols = protocol, dict(protocols or {})
        spoken = {protocol, *self.protocols.values()}
        self.mixed = len(spoken) > 1
        self.adapters: dict[str, ProtocolAdapter] = {
            p: adapter_class(p)(mux.ProtocolPort(self, p, self.protocols, protocol)
                                if self.mixed else self, self.local) for p in sorted(spoken)}
        self.adapter = self.adapters[protocol]  # its inbox's: what it answers requests in
        self.mesh.tags = {mux.tag_of(p): p for p in spoken - {protocol}}  # none unless mixed
        self._hb_tags = {mux.tag_of(p): p for p in spoken} if self.mixed else {}
        self.peers = PeerTable(node_id)  # everything this node knows of its peers
        self.run_queue = RunQueueClock() if starvation_guard else None
        self.monitor = HeartbeatMonitor(hb_interval, hb_liveness, self.peers, detector,
                                        self.run_queue)
        self.hb_interval = hb_interval
        self.fast_path = fast_path
        # epoll over each socket's ZMQ_FD: a wake-up costs what changed, not how many sockets
        # a node has (zmq.Poller re-checks them all: 84 µs a turn for 129 sockets, epoll 0.4 µs)
        self._epoll = select.epoll()
        self._monitor_fds: dict[int, zmq.Socket] = {}
        self._inbox_fd, self._hb_fd = self.mesh.router.get(zmq.FD), self.mesh.sub.get(zmq.FD)
        # sockets to read next turn whether or not their fd fires (see `step`)
        self._unread: set[int] = {self._inbox_fd, self._hb_fd}
        self._next_sweep = 0.0
        self._link_waiters: dict[str, list[Callable[[], None]]] = {}  # `when_link_up`
        self.swim: Swim | None = None  # set by a node that runs SWIM membership
        self._swim_in: list[SwimIn] = []  # this turn's SWIM messages (`_swim_step`)
        for fd in (self._inbox_fd, self._hb_fd):
            self._epoll.register(fd, select.EPOLLIN)
        for mon in self.mesh.monitors:
            self._watch_monitor(mon)
        self._watchers: dict[int, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._hb_seq = 0
        # heartbeat copies received since the last `hb_tally`: src -> [copies, wire, sec]
        self._hb_tally: dict[str, list[int]] = {}
        self.running = True

    # -- Transport, as seen by the protocol adapter -------------------------------------------
    def send_frame(self, dest: str, frame: WireFrame, tag: bytes = b"") -> bool:
        """`tag`: a mixed mesh's (`fsr.bus.mux.ProtocolPort`)."""
        return self.mesh.send_frame(dest, frame, tag)

    def adapter_for(self, peer: str) -> ProtocolAdapter:
        """The adapter that frames requests to `peer`: its protocol's."""
        return self.adapters[self.protocols.get(peer, self.protocol)] if self.mixed \
            else self.adapter

    def record(self, event: str, **fields: Any) -> None:
        self.log.log(event, **fields)

    def add_peer(self, peer: str, data_port: int, hb_port: int | None, address: str = HOST) -> None:
        self._watch_monitor(self.mesh.add_peer(peer, data_port, hb_port, address))
        self._unread.add(self._hb_fd)  # connect() runs the SUB's pending commands

    def _watch_monitor(self, mon: zmq.Socket) -> None:
        fd = cast(int, mon.get(zmq.FD))
        self._monitor_fds[fd] = mon
        self._epoll.register(fd, select.EPOLLIN)
        # its first events may have consumed the fd's signal already: read it next turn
        self._unread.add(fd)

    # -- timers -------------------------------------------------------------------------------
    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), fn))

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.call_at(time.time() + delay, fn)

    def start_heartbeats(self) -> None:
        def beat() -> None:
            self._hb_seq += 1
            hb = Heartbeat(self.node_id, self.local.incarnation, self._hb_seq)
            self.mesh.publish(self.adapter.encode_heartbeat(hb), self._hb_seq,
                              mux.tag_of(self.protocol) if self.mixed else b"")
            self.call_later(self.hb_interval, beat)

        beat()

    def when_link_up(self, peer: str, retry: Callable[[], None], fallback: float = 1.0) -> None:
        """Call `retry` once, when our connection to `peer`'s inbox completes its ZMTP
        handshake, or after `fallback` seconds (a send refused for a full queue sees no new
        connection). Instead of retrying a refused send on a timer: at 128 agents, retries
        every 50 ms to peers still starting were most of the start-up's work."""
        pending = True

        def once() -> None:
            nonlocal pending
            if pending:
                pending = False
                retry()

        self._link_waiters.setdefault(peer, []).append(once)
        self.call_later(fallback, once)

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """Poll a file descriptor too, calling `callback` when it is readable."""
        self._watchers[fd] = callback
        self._epoll.register(fd, select.EPOLLIN)

    # -- the loop -----------------------------------------------------------------------------
    def step(self, max_wait: float = 0.5) -> None:
        # An idle node sleeps until its next timer, liveness deadline or socket event (or
        # `max_wait`): at 256 agents, 20 idle wake-ups a second each cost more than the work.
        for adapter in self.adapters.values():
            if adapter.TICK_INTERVAL is not None:
                max_wait = min(max_wait, adapter.TICK_INTERVAL)
        now = time.time()
        while self._timers and self._timers[0][0] <= now:
            heapq.heappop(self._timers)[2]()
        wait = max_wait
        if self._timers:
            wait = min(wait, max(0.0, self._timers[0][0] - time.time()))
        for deadline in (self.monitor.next_deadline(),
                         self.swim.next_deadline() if self.swim is not None else None):
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.time()) + 0.001)
        self.mesh.flush()  # what timers and the code between turns sent, before sleeping
        fired = [fd for fd, _ in self._epoll.poll(wait)]
        for fd in fired:
            if fd in self._watchers:
                self._watchers[fd]()
        # A ZMQ_FD signals that a socket's state may have changed; the signal is taken by the
        # socket's next operation that runs its pending commands (a recv, a getsockopt of
        # ZMQ_EVENTS, a connect). So a socket is read whenever its fd fires, always until it
        # has nothing left (a recv that finds nothing leaves the pipe asleep, and the next
        # message fires the fd again), and once more after an operation that may have taken
        # its signal (`_unread`). The inbox and the SUB are only ever received from.
        ready = set(fired)
        if self._unread:
            ready |= self._unread
            self._unread = set()
        if (now := time.time()) >= self._next_sweep:
            # belt and braces: a signal taken by something not foreseen above would leave
            # messages unread until the next fd signal; this bounds it to a sweep interval
            ready |= {self._inbox_fd, self._hb_fd}
            self._next_sweep = now + self.SWEEP_INTERVAL
        if self._hb_fd in ready:
            self._read_heartbeats()
        if self._inbox_fd in ready:
            self._read_inbox()
        for fd in ready:
            mon = self._monitor_fds.get(fd)
            while mon is not None and _events(mon) & zmq.POLLIN:
                event = self.mesh.read_monitor(mon)
                if event is None:
                    continue
                if event[1] == "connected":
                    for retry in self._link_waiters.pop(event[0], []):
                        retry()
                    continue
                if self.fast_path:
                    silent = self.monitor.disconnected(event[0], time.time())
                    if silent is not None:
                        self._suspect(event[0], "socket_disconnect", silent)
                self.on_peer_disconnected(event[0])
        for peer, silent in self.monitor.check(time.time()):
            self._suspect(peer, "heartbeat_timeout", silent)
        for peer, starved in self.monitor.deferred:
            self.log.log(ev.SUSPICION_DEFERRED, peer=peer, starved_ms=round(starved * 1000, 3))
        self.monitor.deferred.clear()
        if self.swim is not None:
            self._swim_step()
        now = time.time()
        for adapter in self.adapters.values():
            adapter.tick(now)
        self.mesh.flush()
        self.log.flush()

    def _read_heartbeats(self) -> None:
        while (parts := self.mesh.recv_heartbeat()) is not None:
            try:
                hb = self._decode_heartbeat(parts)
            except MalformedFrame as exc:
                self.log.log(ev.FRAME_DROPPED, src="?", reason=str(exc)[:200],
                             wire=sum(map(len, parts)))
                continue
            if hb.node_id == self.node_id:
                continue
            self._tally_heartbeat(hb.node_id, [len(p) for p in parts])
            prev = self.peers.liveness.get(hb.node_id)
            was_alive, last_seen = prev is not None and not prev.suspected, prev and prev.last_seen
            now = time.time()
            change = self.monitor.seen(hb, now)
            if change == "restarted" and was_alive:
                # Restarted before its silence crossed the deadline: the new incarnation is how
                # this node learns the old process is gone.
                self._suspect(hb.node_id, "new_incarnation", now - (last_seen or now))
            if change:
                self.log.log(ev.PEER_RETURNED if change != "joined" else ev.PEER_JOINED,
                             peer=hb.node_id, how=change, incarnation=hb.incarnation)
                self.on_peer_alive(hb.node_id, change)

    def _decode_heartbeat(self, parts: list[bytes]) -> Heartbeat:
        """A heartbeat's parts: one frame in this node's protocol, or, in a mixed mesh, its
        publisher's protocol's tag and the frame (`fsr.bus.mux`)."""
        if len(parts) == 1:
            return self.adapter.decode_heartbeat(parts[0])
        protocol = self._hb_tags.get(parts[0]) if len(parts) == 2 else None
        if protocol is None:
            raise MalformedFrame(f"heartbeat: {len(parts)} parts, not a known tag and a frame")
        return self.adapters[protocol].decode_heartbeat(parts[1])

    def _tally_heartbeat(self, src: str, sizes: list[int]) -> None:
        """Count one heartbeat copy received; the first copy of an interval schedules its tally
        (a timer every node has, the runner included, which publishes no heartbeats)."""
        if not self._hb_tally:
            self.call_later(self.hb_interval, self._log_hb_tally)
        wire = self.mesh.wire(message_bytes, sizes)
        counts = self._hb_tally.setdefault(src, [0, 0, 0])
        counts[0] += 1
        counts[1] += wire["wire"]
        counts[2] += wire.get("sec", 0)

    def _log_hb_tally(self) -> None:
        """Log the exact totals of the heartbeat copies received since the last tally, one
        event per interval instead of one per copy (N² copies a second in an N-node mesh). The
        tally's time is the end of its interval; a SIGKILL loses the open one (at most an
        interval of the copies this node received)."""
        if not self._hb_tally:
            return
        tally, self._hb_tally = self._hb_tally, {}
        curve = self.mesh.curve is not None  # `sec` only under CURVE, as on every wire event
        copies, wire, sec = (sum(col) for col in zip(*tally.values(), strict=True))
        self.log.log(ev.HB_TALLY, cat="heartbeat", copies=copies, wire=wire,
                     **({"sec": sec} if curve else {}),
                     by_src={src: c if curve else c[:2] for src, c in sorted(tally.items())})

    def _read_inbox(self) -> None:
        while (got := self.mesh.recv()) is not None:
            if isinstance(got, FrameIn):
                adapter = self.adapters[got.protocol] if got.protocol else self.adapter
                for msg in adapter.receive_message(got.sender, got.data):
                    self._take(msg)
            elif isinstance(got, ControlIn):
                self.on_control(got.sender, got.body)
            elif self.swim is not None:
                # answered in this turn's SWIM step, after the turn's control messages: a
                # `connect` read with it opens the links its ack goes out on
                self._swim_in.append(got)
            else:
                self.log.log(ev.FRAME_DROPPED, src=got.sender, reason="swim: this node runs "
                             "the heartbeat channel, not SWIM")

    def _take(self, msg: Message) -> None:
        """A message the adapter handed up: its own (pong, peer_ready), or an application
        message, checked against its schema before `on_message` sees it."""
        if msg.kind == kinds.PONG:
            self.on_pong(msg.sender)
        elif msg.kind == kinds.PEER_READY:
            self.log.log(ev.HANDSHAKE_DONE, peer=msg.sender, role=msg.body.get("role"),
                         incarnation=msg.body.get("incarnation"))
            self.on_peer_ready(msg.sender, msg.body)
        elif (why := self.check_message(msg)) is not None:
            self.log.log(ev.FRAME_DROPPED, src=msg.sender, reason=why[:200],
                         kind=msg.kind[:40], mid=msg.msg_id[:40])
        else:
            self.log.emit(ev.DELIVER, {"src": msg.sender, "kind": msg.kind, "mid": msg.msg_id})
            self.on_message(msg)

    # -- SWIM membership (`fsr.bus.swim`), instead of the heartbeat channel's view --------
    def start_swim(self) -> None:
        assert self.swim is not None
        self._swim_changes(self.swim.start(time.time()))

    def _swim_step(self) -> None:
        assert self.swim is not None
        for msg in self._swim_in:
            self._swim_out(*self.swim.receive(msg.sender, msg.body, time.time()))
        self._swim_in.clear()
        self._swim_out(*self.swim.tick(time.time()))

    def _swim_out(self, out: list[tuple[str, dict[str, Any]]],
                  changes: list[tuple[str, str, float]]) -> None:
        for dest, body in out:
            self.mesh.send_swim(dest, body)  # a refused send is a probe that goes unanswered
        self._swim_changes(changes)

    def _swim_changes(self, changes: list[tuple[str, str, float]]) -> None:
        assert self.swim is not None
        for how, peer, silent in changes:
            if how == "suspect":
                self.log.log(ev.SWIM_SUSPECT, peer=peer, silent_ms=round(silent * 1000, 3))
            elif how == "refuted":
                self.log.log(ev.SWIM_REFUTE, incarnation=self.swim.incarnation)
            elif how == "health":
                self.log.log(ev.SWIM_HEALTH, score=int(silent))
            elif how == "dead":
                self._suspect(peer, "swim_dead", silent)
            else:
                if how == "restarted":  # the old process and its connections are gone
                    self._suspect(peer, "new_incarnation", silent)
                process = self.swim.members[peer].process
                self.log.log(ev.PEER_RETURNED if how != "joined" else ev.PEER_JOINED,
                             peer=peer, how=how, incarnation=process)
                self.on_peer_alive(peer, how)

    def peer_alive(self, peer: str) -> bool:
        """The membership view: SWIM's when the node runs it, else the heartbeat channel's."""
        return self.swim.alive(peer) if self.swim is not None else self.monitor.alive(peer)

    def _suspect(self, peer: str, how: str, silent: float) -> None:
        self.log.log(ev.PEER_SUSPECTED, peer=peer, how=how, silent_ms=round(silent * 1000, 3))
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
        self._log_hb_tally()  # the copies of the last, unfinished interval
        self.log.flush()
        self._epoll.close()
        if self.run_queue is not None:
            self.run_queue.close()
        self.mesh.close()
        self.ctx.term()
