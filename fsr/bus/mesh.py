"""The sockets of one mesh node, and the byte counters on every frame they carry.

Topology (the design card's): each node binds a ROUTER on its data port — its inbox — and a PUB
on its heartbeat port, on 127.0.0.1 only. To talk to a peer it keeps one DEALER connected to the
peer's ROUTER (routing id = own node id) and one SUB connection to the peer's PUB.

Traps handled (SPEC §4):
* every send goes out on a DEALER with ``ZMQ_IMMEDIATE``: a peer with no live connection makes
  ``send`` fail instead of queueing the message for a dead process; the failure is logged and
  returned, never silent (frames are held and written together at the end of the loop turn,
  after ZeroMQ's own writability test: see "The turn's outbox" below). The ROUTER is receive-only;
  it still has ``ROUTER_MANDATORY`` so that a send through it could never drop silently, and
  ``ROUTER_HANDOVER`` so a restarted peer reusing its routing id takes over at once.
* detection never relies on send errors: that is the heartbeat monitor's job.

Two planes share the DEALER/ROUTER pair: protocol frames (one ZeroMQ frame each, produced by
the protocol adapter; a turn's frames to one peer travel as the parts of one multipart message,
which the receiver reads back frame by frame) and the runner's control plane (two frames: empty
delimiter + msgpack), which is the same for every protocol so it cannot bias a comparison.

Security (`fsr.bus.security`): under CURVE every bound socket is a CURVE server behind the run's
ZAP handler, every connecting socket pins its peer's key, and each inbox message's routing id must
be the node id its key was admitted under; handshakes a listening socket refuses are logged
(``handshake_failed``).

Counting: every send is logged as a ``send`` event with its wire bytes (`fsr.bus.wire`), split
into payload, envelope, CURVE (``sec``, under CURVE only) and ZMTP framing, and its category.
Heartbeat copies are counted where they land, since a PUB writes one copy per live subscriber:
each node logs one ``hb_tally`` per heartbeat interval with the exact count and bytes of the copies
it received in it, per source (`MeshNode._log_hb_tally`), instead of an event per copy (N² a
second). Connection handshakes are logged by the connecting side when ZeroMQ reports them
complete (``zmtp_connect``).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable
from typing import Any, cast

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message

from fsr import events as ev
from fsr.bus import mux
from fsr.bus.inbound import SWIM_TAG, FrameIn, Inbound, side_plane
from fsr.bus.security import REFUSALS, Curve, refusal_reason
from fsr.bus.wire import frame_bytes, handshake_bytes, message_bytes, subscribe_bytes
from fsr.eventlog import EventLog
from fsr.protocols.base import WireFrame

HOST = "127.0.0.1"
_MONITORED = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED

# pyzmq's own methods, under its Socket wrappers (0.4 µs a frame saved), with int flags
_SEND, _RECV, _GET = zmq.backend.Socket.send, zmq.backend.Socket.recv, zmq.backend.Socket.get
_EVENTS, _POLLOUT = int(zmq.EVENTS), int(zmq.POLLOUT)
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.NOBLOCK | zmq.SNDMORE)


def _write(dealer: zmq.Socket, frames: bytes | list[bytes]) -> None:
    if isinstance(frames, bytes):  # the protocol plane; send_multipart's loop costs more
        _SEND(dealer, frames, zmq.NOBLOCK)
    else:
        dealer.send_multipart(frames, zmq.NOBLOCK)


def endpoint(port: int, address: str = HOST) -> str:
    return f"tcp://{address}:{port}"


class Mesh:
    def __init__(self, ctx: zmq.Context, node_id: str, log: EventLog, data_port: int,
                 hb_port: int | None = None, curve: Curve | None = None,
                 address: str = HOST) -> None:
        self.ctx, self.node_id, self.log, self.curve = ctx, node_id, log, curve
        self.address = address  # what this node binds: its host's (`AgentSpec.address`)
        self.identity = node_id.encode()
        # monitor socket -> (peer, kind of connection), to log handshakes and disconnects
        self.monitors: dict[zmq.Socket, tuple[str, str]] = {}
        self.monitored: list[zmq.Socket] = []  # sockets whose events feed a monitor
        self.router = ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.router.setsockopt(zmq.LINGER, 0)
        self._listen(self.router, data_port, "router")
        self.pub: zmq.Socket | None = None
        if hb_port is not None:
            self.pub = ctx.socket(zmq.PUB)
            self.pub.setsockopt(zmq.LINGER, 0)
            self._listen(self.pub, hb_port, "pub")
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.setsockopt(zmq.LINGER, 0)
        # as the DEALERs: a restarted peer is found within 0.5 s of its bind, and its dead
        # endpoint is not retried every 100 ms (libzmq's default) meanwhile
        self.sub.setsockopt(zmq.RECONNECT_IVL, 50)
        self.sub.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        self.dealers: dict[str, zmq.Socket] = {}
        self.sub_peers: dict[str, str] = {}  # heartbeat endpoint -> peer
        # Routing ids whose control messages are taken (None: any); everyone else's are dropped.
        self.control_senders: set[str] | None = None
        self._writable: set[str] = set()  # peers found writable this turn (the outbox, below)
        # a held message: (dealer, a protocol frame (bytes) or a whole control/SWIM message
        # (list), its send fields, the frame's protocol tag: b"" on the receiver's own protocol)
        self._held: list[tuple[zmq.Socket, bytes | list[bytes], dict[str, Any], bytes]] = []
        self._batch: collections.deque[bytes] = collections.deque()  # a batch's unread frames
        self._batch_sender = self._batch_protocol = ""
        # A mixed mesh (`fsr.bus.mux`): the tags of the protocols that are not this node's own.
        self.tags: dict[bytes, str] = {}
        self._wire_of: dict[int, dict[str, int]] = {}  # frame size -> its `wire` fields
        self._add_monitor(self.sub, "", "sub")

    def _listen(self, sock: zmq.Socket, port: int, kind: str) -> None:
        if self.curve is not None:
            self.curve.serve(sock)
        self._add_monitor(sock, "", kind, sum(REFUSALS))
        sock.bind(endpoint(port, self.address))

    # -- wiring -------------------------------------------------------------------------------
    def add_peer(self, peer: str, data_port: int, hb_port: int | None,
                 address: str = HOST) -> zmq.Socket:
        """Connect to a peer; returns the monitor socket of the new DEALER, to poll."""
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, self.identity)
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RECONNECT_IVL, 50)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        self._connect(dealer, peer, endpoint(data_port, address))
        self.dealers[peer] = dealer
        if hb_port is not None:
            self.sub_peers[endpoint(hb_port, address)] = peer
            self._connect(self.sub, peer, endpoint(hb_port, address))
        return self._add_monitor(dealer, peer, "dealer")

    def _connect(self, sock: zmq.Socket, peer: str, where: str) -> None:
        if self.curve is not None:
            self.curve.connect(sock, peer, where)
        else:
            sock.connect(where)

    def _add_monitor(self, sock: zmq.Socket, peer: str, kind: str,
                     events: int = _MONITORED) -> zmq.Socket:
        mon = sock.get_monitor_socket(events)
        self.monitors[mon] = (peer, kind)
        self.monitored.append(sock)
        return mon

    # -- sending ------------------------------------------------------------------------------
    # The turn's outbox. Every frame sent in a loop turn is held, and `flush` hands them to
    # ZeroMQ at the end of the turn: per peer, in order, a run of protocol frames as the parts of
    # one multipart message. Why: ZeroMQ wakes its I/O thread for every message written to an
    # idle pipe, and here each wake-up costs ~20 µs of CPU (sends 20 µs apart: 21.6 µs of CPU
    # each; in a burst: 1.3 µs); the parts of one message wake it once. The wire carries the
    # same bytes (ZMTP frames the parts of a message exactly as it frames single messages; only
    # the MORE flag bit differs) and the receiver hands them up one frame at a time, so a batch
    # changes when frames leave, never what is counted. A send still fails at once when the peer
    # has no live connection: the first frame of a turn to a peer asks ZeroMQ's own test of a
    # send (ZMQ_EVENTS POLLOUT under ZMQ_IMMEDIATE: a connected pipe below its HWM). A frame is
    # counted (``send``) when ZeroMQ takes it; one the flush cannot hand over (its link died
    # during the turn, or the queue filled) is logged ``send_failed`` and lost, as a frame sent
    # an instant before its peer died is lost in the socket buffers. ZeroMQ takes or refuses a
    # multipart message whole, so a batch is sent or failed whole (libzmq src/lb.cpp: a
    # message's parts go to one pipe, flushed — its reader woken — at the last part; `has_out`,
    # i.e. POLLOUT, is the pipe test `send` makes, and once a first part is written the rest
    # always are; a pipe that dies mid-message drops the rest, lost as above).
    # Held frames that force a flush, so a node working through a backlog keeps its peers busy
    # instead of answering it all at the end: by then a wake-up costs under 1 µs a frame.
    # benchmarks/throughput.py (window 64), json round trips/s by FLUSH_AT: 8: 38-50k, 16:
    # 43-58k, 32: 47-62k, 64: 35-43k, 256: 30-44k (a node holding a whole window answers it in
    # one go, and the two sides take turns idling).
    FLUSH_AT = 32

    def send_frame(self, dest: str, frame: WireFrame, tag: bytes = b"") -> bool:
        """The protocol plane: one single-part frame to `dest`, counted and logged; `tag`: the
        frame's protocol, when it is not the receiver's own (`fsr.bus.mux`)."""
        data = frame.data
        size = len(data)
        if (wire := self._wire_of.get(size)) is None:
            if len(self._wire_of) >= 4096:  # sizes seen; a few hundred in a run
                self._wire_of.clear()
            wire = self._wire_of[size] = self.wire(frame_bytes, size)
        return self._send(dest, data, {
            "dst": dest, "cat": frame.category, "kind": frame.kind, "mid": frame.msg_id,
            "pay": frame.payload_len, "env": size - frame.payload_len, **wire}, tag)

    def wire(self, formula: Callable[..., int], *args: Any) -> dict[str, int]:
        """``wire``: the bytes a formula of `fsr.bus.wire` gives under this mesh's security;
        ``sec``, under CURVE: how many of them CURVE adds to what NULL security would cost."""
        if self.curve is None:
            return {"wire": formula(*args)}
        wire = formula(*args, curve=True)
        return {"wire": wire, "sec": wire - formula(*args)}

    def send_control(self, dest: str, kind: str, **body: Any) -> bool:
        """The control plane: runner <-> agent bookkeeping, identical for every protocol."""
        packed = msgpack.packb({"k": kind, **body})
        return self._send(dest, [b"", packed], {
            "dst": dest, "cat": "control", "kind": "ctl." + kind, "mid": "",
            "pay": len(packed), "env": 0, **self.wire(message_bytes, [0, len(packed)])})

    def send_swim(self, dest: str, body: dict[str, Any]) -> bool:
        """The SWIM membership plane (`fsr.bus.swim`): a tag frame + msgpack, the same for every
        protocol (membership is the mesh's, like the heartbeat channel it replaces)."""
        packed = msgpack.packb(body)
        return self._send(dest, [SWIM_TAG, packed], {
            "dst": dest, "cat": "heartbeat", "kind": "swim." + body["t"], "mid": "",
            "pay": len(packed), "env": len(SWIM_TAG),
            **self.wire(message_bytes, [len(SWIM_TAG), len(packed)])})

    def _send(self, dest: str, frames: bytes | list[bytes], fields: dict[str, Any],
              tag: bytes = b"") -> bool:
        """Write or hold one message (bytes: the protocol plane's single frame) whose ``send``
        event has `fields`; False if it cannot be sent."""
        dealer = self.dealers.get(dest)
        if dealer is None:
            self._send_failed(fields, "unknown peer")
            return False
        if dest not in self._writable:
            # ZeroMQ's own test of a send (ZMQ_IMMEDIATE: a connected pipe below its HWM),
            # once per peer and turn, so a send with no live connection fails here and now
            if not cast(int, _GET(dealer, _EVENTS)) & _POLLOUT:
                self._send_failed(fields, "no live connection")
                return False
            self._writable.add(dest)
        self._held.append((dealer, frames, fields, tag))
        if len(self._held) >= self.FLUSH_AT:
            self.flush()
        return True

    def flush(self) -> None:
        """Hand the frames held this turn to ZeroMQ, in the order they were sent to each peer:
        a run of protocol frames as one multipart message (see `_write_run`)."""
        held, self._held = self._held, []
        self._writable.clear()
        if not held:
            return
        by_dealer: dict[zmq.Socket, list[tuple[bytes | list[bytes], dict[str, Any], bytes]]] = {}
        for dealer, frames, fields, tag in held:
            by_dealer.setdefault(dealer, []).append((frames, fields, tag))
        for dealer, items in by_dealer.items():
            run: list[tuple[bytes, dict[str, Any]]] = []
            run_tag = b""
            for frames, fields, tag in items:
                if isinstance(frames, bytes) and tag == run_tag:
                    run.append((frames, fields))
                    continue
                self._write_run(dealer, run, run_tag)
                run, run_tag = [], tag
                if isinstance(frames, bytes):
                    run.append((frames, fields))
                else:
                    self._write_run(dealer, [(frames, fields)])
            self._write_run(dealer, run, run_tag)

    def _write_run(self, dealer: zmq.Socket, run: list[tuple[Any, dict[str, Any]]],
                   tag: bytes = b"") -> None:
        """Write one message: a control or SWIM message, or a run of protocol frames (bytes)
        as the parts of one, behind their protocol's `tag` if they have one (its bytes are
        counted on the first frame's ``send``); log each frame's ``send``, or ``send_failed``
        if it is refused."""
        if not run:
            return
        try:
            if tag:
                _SEND(dealer, tag, _SNDMORE)
                fields, tag_wire = run[0][1], self.wire(frame_bytes, len(tag))
                fields["mux"] = tag_wire["wire"]
                mux.count_tag(fields, tag, tag_wire)
            if len(run) == 1 and not tag:
                _write(dealer, run[0][0])
            else:
                for data, _ in run[:-1]:
                    _SEND(dealer, data, _SNDMORE)
                _SEND(dealer, run[-1][0], _NOBLOCK)
        except zmq.Again:  # only a message's first part can be refused
            for _, fields in run:
                self._send_failed(fields, "refused at the end of the turn (link lost or "
                                  "queue full)")
            return
        for _, fields in run:
            self.log.emit(ev.SEND, fields)

    def _send_failed(self, fields: dict[str, Any], reason: str) -> None:
        self.log.log(ev.SEND_FAILED, dst=fields["dst"], cat=fields["cat"], kind=fields["kind"],
                     mid=fields["mid"], reason=reason)

    def publish(self, frame: WireFrame, seq: int, tag: bytes = b"") -> None:
        """One heartbeat; behind its protocol's `tag` in a mixed mesh, whose subscribers speak
        other protocols (`fsr.bus.mux`)."""
        assert self.pub is not None
        parts = [tag, frame.data] if tag else [frame.data]
        try:
            self.pub.send_multipart(parts, zmq.NOBLOCK)
        except zmq.Again:  # PUB never blocks; kept for symmetry with the DEALER path
            return
        self.log.log(ev.HB_SENT, seq=seq, frame=self.wire(message_bytes, parts)["wire"])

    # -- receiving ----------------------------------------------------------------------------
    def recv(self) -> Inbound | None:
        """The inbox's next message, tagged by its plane (`fsr.bus.inbound`): a batch's
        protocol frames one by one, in order. None once the inbox is empty — known from the
        failed read itself, cheaper than asking ZeroMQ before every read whether a message is
        pending. A message is a control or SWIM message if its first frame is their tag
        (exactly two frames), else a batch of protocol frames; one that must be dropped is
        counted with its reason and skipped."""
        # The routing id as bytes, the rest as Frames: `Frame.more` is a plain read where
        # getsockopt(RCVMORE) costs 0.6 µs, and a Frame holds the CURVE User-Id. (Frames for
        # every part, and recv_multipart, cost 2-3 µs a message; this, 1 µs.)
        while True:
            if self._batch:
                return FrameIn(self._batch_sender, self._batch.popleft(), self._batch_protocol)
            try:
                rid = _RECV(self.router, _NOBLOCK)
                frame = _RECV(self.router, _NOBLOCK, copy=False)
                parts = [frame.bytes]
                while frame.more:
                    frame = _RECV(self.router, _NOBLOCK, copy=False)
                    parts.append(frame.bytes)
            except zmq.Again:  # a message's parts arrive together: only its first read fails
                return None
            sender = rid.decode(errors="replace")
            if self.curve is not None and (key_of := frame.get("User-Id")) != sender:
                # a routing id is bound to the key its connection was admitted under
                why = f"routing id {sender[:40]!r} is not its key's ({key_of})"
                self.log.log(ev.FRAME_DROPPED, src=sender[:40], reason=why,
                             wire=sum(map(len, parts)))
                continue
            if len(parts) == 1:
                return FrameIn(sender, parts[0])
            if (protocol := self.tags.get(parts[0])) is not None:  # another protocol's batch
                del parts[0]
            elif parts[0] not in (b"", SWIM_TAG):  # a batch of protocol frames
                protocol = ""
            else:
                protocol = None
            if protocol is not None:
                self._batch_sender, self._batch_protocol = sender, protocol
                self._batch.extend(parts[1:])
                return FrameIn(sender, parts[0], protocol)
            if len(parts) != 2:
                self.log.log(ev.FRAME_DROPPED, src=sender, reason=f"{len(parts)} frames",
                             wire=sum(map(len, parts)))
                continue
            got = side_plane(sender, parts[0], parts[1], self.control_senders)
            if not isinstance(got, str):
                return got
            self.log.log(ev.FRAME_DROPPED, src=sender, reason=got[:200], wire=len(parts[1]))

    def recv_heartbeat(self) -> list[bytes] | None:
        """The next heartbeat's parts: its frame, behind its protocol's tag in a mixed mesh."""
        try:
            return self.sub.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return None

    def read_monitor(self, mon: zmq.Socket) -> tuple[str, str] | None:
        """Handle one socket event; returns (peer, "connected" | "disconnected") for a link
        to a peer's inbox (a DEALER), None for the rest."""
        msg = recv_monitor_message(mon, zmq.NOBLOCK)
        peer, kind = self.monitors[mon]
        if msg["event"] in REFUSALS:
            how, value = REFUSALS[msg["event"]], int(msg["value"])
            self.log.log(ev.HANDSHAKE_FAILED, sock=kind, how=how, value=value,
                         why=refusal_reason(how, value))
            return None
        if kind == "sub":
            peer = self.sub_peers.get(msg["endpoint"].decode(), "?")
        if msg["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            if kind == "dealer":
                wire = self.wire(handshake_bytes, "DEALER", "ROUTER", self.identity)
            else:
                wire = self.wire(lambda curve=False: handshake_bytes("SUB", "PUB", curve=curve)
                                 + subscribe_bytes(curve=curve))
            self.log.log(ev.ZMTP_CONNECT, peer=peer, sock=kind, cat="handshake", **wire)
            return (peer, "connected") if kind == "dealer" else None
        self.log.log(ev.ZMTP_DISCONNECT, peer=peer, sock=kind)
        return (peer, "disconnected") if kind == "dealer" else None

    def close(self) -> None:
        self.flush()
        # Stop every monitor *before* closing its reading end. libzmq's I/O thread writes
        # monitor events with a blocking send; an event (say, the disconnect a closing peer
        # causes) aimed at a monitor whose reader is already closed blocks that thread for
        # good, and with it every connection of the context.
        for sock in self.monitored:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
        for sock in [*self.monitors, *self.dealers.values(), self.router, self.sub]:
            sock.close(linger=0)
        if self.pub is not None:
            self.pub.close(linger=0)
        if self.curve is not None:
            self.curve.close()
