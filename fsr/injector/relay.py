"""Faults inside the byte stream: a relay on every agent-to-agent link that flips bits
(``corrupt``) or holds bytes back (``delay``).

Mechanism (when the schedule has a corrupt or delay fault; it needs the run's network namespace,
see `fsr.injector.network`):

* NAT rules redirect every TCP connection agent i opens to another agent's listening ports (its
  ROUTER inbox and its heartbeat PUB) into listener i of `LinkRelay`, a thread of the runner in
  the namespace; so the relay knows both ends of every link. It reads the real destination from
  conntrack (``SO_ORIGINAL_DST``) and connects there itself; its own sockets are the runner's
  (no agent group), so they are not redirected again. The runner's own links are not relayed.
* Both directions are read as ZMTP 3 (a 64-byte greeting, then frames: flags — bit 0 MORE,
  bit 1 LONG, bit 2 COMMAND — a 1- or 8-byte size, the body) and passed on whole frame by frame.
* ``corrupt``: while a storm holds a link's receiving end, each message frame to it (under CURVE:
  each MESSAGE command) has one random bit of its body flipped with the storm's probability.
  TCP's checksum is computed after the relay, so the flip reaches the receiving application, as
  a link error behind TCP's check or a faulty middlebox would deliver it. Loopback TCP itself
  never corrupts. anp's CRC32 rejects it (``crc_fail``), json fails to decode it
  (``frame_dropped``) or takes it changed, CURVE's MAC rejects it.
* ``delay``: while a storm holds either end of a link, its bytes are forwarded `ms` ± `jitter`
  later (uniform, seeded), in order — latency the way Toxiproxy adds it. This is not the kernel's
  netem (which this machine's kernel lacks): it delays whole reads of the stream, not packets,
  and TCP below it sees no loss or reordering.
* Every flip is handed to the runner's loop (`drain`), which logs it (``corrupt_frame``); the
  bytes the relay forwarded per link are logged at the end (``relay_bytes``), to check fsr's
  counters against them.

Cost: every agent-to-agent byte of such a run crosses one more loopback hop through a Python
thread; fsr's counters are the senders' and do not change.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TypeVar

GREETING = 64
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h

T = TypeVar("T")


def read_or_close(sock: socket.socket, other: socket.socket,
                  pairs: MutableMapping[socket.socket, T], sel: selectors.BaseSelector) -> bytes:
    """What `sock` has to relay; b"" once it closed (or failed), when `other`, the far end of
    its pair, is closed too, as a TCP path would close it (both leave `pairs` and `sel`)."""
    try:
        data = sock.recv(65536)
    except OSError:
        data = b""
    if not data:
        for end in (sock, other):
            if pairs.pop(end, None) is not None:
                sel.unregister(end)
                end.close()
    return data

class ZmtpStream:
    """Consumes one direction of a ZMTP connection; returns whole units (greeting, frames), each
    frame possibly changed in place by `tamper(frame, head, size)`."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.greeting_left = GREETING

    def feed(self, data: bytes, tamper: Callable[[bytearray, int, int], None]) -> bytes:
        self.buf += data
        out = bytearray()
        while True:
            if self.greeting_left:  # passed on at once: ZMTP peers exchange it in steps
                take = min(self.greeting_left, len(self.buf))
                if not take:
                    break
                out += self.buf[:take]
                del self.buf[:take]
                self.greeting_left -= take
                continue
            if len(self.buf) < 2:
                break
            flags = self.buf[0]
            head = 9 if flags & 0x02 else 2
            if len(self.buf) < head:
                break
            size = struct.unpack("!Q", self.buf[1:9])[0] if flags & 0x02 else self.buf[1]
            if len(self.buf) < head + size:
                break
            unit = bytearray(self.buf[:head + size])
            del self.buf[:head + size]
            if size > 0:
                tamper(unit, head, size)
            out += unit
        return bytes(out)


def is_message(unit: bytearray, head: int) -> bool:
    """A message frame, or a CURVE MESSAGE command (which carries one encrypted frame)."""
    if not unit[0] & 0x04:
        return True
    return bytes(unit[head:head + 8]) == b"\x07MESSAGE"


@dataclass
class Hold:
    """One storm's hold on a node: its kind and parameters, and its RNG."""

    storm: int
    kind: str  # corrupt | delay
    rng: random.Random
    percent: float = 0.0
    ms: float = 0.0
    jitter: float = 0.0


@dataclass
class Direction:
    """One direction of one relayed link."""

    out: socket.socket
    src: str
    dst: str
    stream: ZmtpStream = field(default_factory=ZmtpStream)
    due: float = 0.0  # when the last queued chunk goes out (chunks leave in order)


class LinkRelay:
    def __init__(self, nodes: list[str], node_of_port: dict[int, str]) -> None:
        self.node_of_port = node_of_port
        self.listeners = {socket.create_server(("127.0.0.1", 0)): node for node in nodes}
        self.ports = {node: s.getsockname()[1] for s, node in self.listeners.items()}
        self.holds: dict[str, Hold] = {}
        self.flips: list[tuple[float, int, str, int, int]] = []  # (ts, storm, dst, bytes, bit)
        self.totals: dict[tuple[str, str], int] = {}  # (src, dst) -> bytes forwarded, both ways
        self._queue: list[tuple[float, int, Direction, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fsr-relay", daemon=True)
        self._thread.start()

    # -- the storms' side (runner thread) ---------------------------------------------------
    def start(self, storm: int, kind: str, nodes: list[str], seed: str, percent: float = 0.0,
              ms: float = 0.0, jitter: float = 0.0) -> None:
        with self._lock:
            for i, node in enumerate(sorted(nodes)):
                self.holds[node] = Hold(storm, kind, random.Random(f"{seed}/{i}"), percent, ms,
                                        jitter)

    def stop(self, nodes: list[str]) -> None:
        with self._lock:
            for node in nodes:
                self.holds.pop(node, None)

    def drain(self) -> list[tuple[float, int, str, int, int]]:
        """The flips since the last call (for the runner's loop to log)."""
        with self._lock:
            out, self.flips = self.flips, []
        return out

    def forwarded(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.totals)

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)

    # -- the relay thread -------------------------------------------------------------------
    def _tamper(self, d: Direction) -> Callable[[bytearray, int, int], None]:
        def tamper(unit: bytearray, head: int, size: int) -> None:
            hold = self.holds.get(d.dst)
            if hold is None or hold.kind != "corrupt" or not is_message(unit, head):
                return
            if hold.rng.random() >= hold.percent / 100.0:
                return
            bit = hold.rng.randrange(size * 8)
            unit[head + bit // 8] ^= 1 << (bit % 8)
            self.flips.append((time.time(), hold.storm, d.dst, size, bit))

        return tamper

    def _delay(self, d: Direction) -> float:
        hold = self.holds.get(d.src) or self.holds.get(d.dst)
        if hold is None or hold.kind != "delay":
            return 0.0
        return max(0.0, hold.ms + hold.rng.uniform(-hold.jitter, hold.jitter)) / 1000.0

    def _pass(self, d: Direction, data: bytes) -> None:
        with self._lock:
            data = d.stream.feed(data, self._tamper(d))
            wait = self._delay(d)
            key = (min(d.src, d.dst), max(d.src, d.dst))
            self.totals[key] = self.totals.get(key, 0) + len(data)
        now = time.time()
        d.due = max(now + wait, d.due)  # never overtake an earlier chunk of the same stream
        if d.due <= now:
            with contextlib.suppress(OSError):  # the other side is gone: its EOF closes it
                d.out.sendall(data)
            return
        heapq.heappush(self._queue, (d.due, next(self._seq), d, data))

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for listener in self.listeners:
            sel.register(listener, selectors.EVENT_READ, None)
        pairs: dict[socket.socket, tuple[socket.socket, Direction]] = {}
        while not self._stop:
            wait = 0.05
            if self._queue:
                wait = min(wait, max(0.0, self._queue[0][0] - time.time()))
            for key, _ in sel.select(timeout=wait):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock in self.listeners:
                    self._accept(sel, pairs, sock)
                    continue
                if sock not in pairs:
                    continue
                other, direction = pairs[sock]
                data = read_or_close(sock, other, pairs, sel)
                if data:
                    self._pass(direction, data)
            now = time.time()
            while self._queue and self._queue[0][0] <= now:
                _, _, d, data = heapq.heappop(self._queue)
                with contextlib.suppress(OSError):
                    d.out.sendall(data)
        for sock in [*self.listeners, *pairs]:
            sock.close()

    def _accept(self, sel: selectors.BaseSelector,
                pairs: dict[socket.socket, tuple[socket.socket, Direction]],
                listener: socket.socket) -> None:
        client, _ = listener.accept()
        raw = client.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port = struct.unpack_from("!H", raw, 2)[0]
        try:
            server = socket.create_connection(("127.0.0.1", port))
        except OSError:  # the destination is down (a killed agent): refuse, as it would
            client.close()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        src, dst = self.listeners[listener], self.node_of_port.get(port, "?")
        pairs[client] = (server, Direction(server, src, dst))
        pairs[server] = (client, Direction(client, dst, src))
        sel.register(client, selectors.EVENT_READ)
        sel.register(server, selectors.EVENT_READ)


__all__ = ["Hold", "LinkRelay", "ZmtpStream", "is_message"]
