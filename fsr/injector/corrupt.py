"""Corruption that reaches the receiving application: a bit-flipping relay on the agents' links.

Mechanism (when the schedule has a ``corrupt`` fault; it needs the run's network namespace, see
`fsr.injector.network`):

* One netfilter NAT rule redirects every TCP connection an agent opens to another agent's data
  port (its ROUTER inbox) into `CorruptingRelay`, a thread of the runner listening in the
  namespace. The relay reads the real destination from conntrack (``SO_ORIGINAL_DST``) and
  connects there itself; its own sockets are the runner's (no agent group), so they are not
  redirected again. Heartbeat (PUB) ports and the runner's own links are not relayed.
* The relay passes bytes through unchanged, reading the client → server stream as ZMTP 3 (a
  64-byte greeting, then frames: flags — bit 0 MORE, bit 1 LONG, bit 2 COMMAND — a 1- or 8-byte
  size, the body). While a corrupt storm holds a connection's destination, each non-empty
  message frame (under CURVE: each MESSAGE command) has one random bit of its body flipped with
  the storm's probability. TCP's checksum is computed after the relay, so the flipped bit
  reaches the receiving socket: what a link error behind TCP's check (or a faulty middlebox)
  would deliver. Loopback TCP itself never corrupts.
* Each flip is handed to the runner's loop (`drain`), which logs it (``corrupt_frame``). What the
  receiver makes of it is the protocol's: anp's CRC32 rejects it (``crc_fail``) and re-requests
  it; json has no check, so it fails to decode (``frame_dropped``) or is delivered changed; under
  CURVE the MAC fails and libzmq stops reading that link (see README, Protocols).

Cost: every agent-to-agent data byte of such a run crosses one more loopback hop through a
Python thread. The relay forwards bytes as they come; fsr's counters are the senders' and do not
change.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable

GREETING = 64
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h


class ZmtpStream:
    """Consumes one direction of a ZMTP connection; returns whole units (greeting, frames), each
    frame possibly changed by `tamper(frame, head, size)`."""

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


def _is_message(unit: bytearray, head: int) -> bool:
    """A message frame, or a CURVE MESSAGE command (which carries one encrypted frame)."""
    if not unit[0] & 0x04:
        return True
    return bytes(unit[head:head + 8]) == b"\x07MESSAGE"


class CorruptingRelay:
    """Accepts redirected agent connections and forwards them, flipping bits on demand."""

    def __init__(self, node_of_port: dict[int, str]) -> None:
        self.node_of_port = node_of_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.active: dict[str, tuple[int, float, random.Random]] = {}  # node -> (storm, p, rng)
        self.flips: list[tuple[float, int, str, int, int]] = []  # (ts, storm, dst, bytes, bit)
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fsr-corrupt", daemon=True)
        self._thread.start()

    def start(self, storm: int, nodes: list[str], percent: float, seed: str) -> None:
        with self._lock:
            for i, node in enumerate(sorted(nodes)):
                self.active[node] = (storm, percent / 100.0, random.Random(f"{seed}/{i}"))

    def stop(self, nodes: list[str]) -> None:
        with self._lock:
            for node in nodes:
                self.active.pop(node, None)

    def drain(self) -> list[tuple[float, int, str, int, int]]:
        """The flips since the last call (for the runner's loop to log)."""
        with self._lock:
            out, self.flips = self.flips, []
        return out

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)

    def _tamperer(self, dst: str) -> Callable[[bytearray, int, int], None]:
        def tamper(unit: bytearray, head: int, size: int) -> None:
            with self._lock:
                hold = self.active.get(dst)
                if hold is None or not _is_message(unit, head):
                    return
                storm, p, rng = hold
                if rng.random() >= p:
                    return
                bit = rng.randrange(size * 8)
                unit[head + bit // 8] ^= 1 << (bit % 8)
                self.flips.append((time.time(), storm, dst, size, bit))

        return tamper

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        # socket -> (the other end, the stream parser when this is the client side, tamper)
        pairs: dict[socket.socket, tuple[socket.socket, ZmtpStream | None, Callable]] = {}
        while not self._stop:
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                if sock is self.listener:
                    self._accept(sel, pairs)
                    continue
                assert isinstance(sock, socket.socket)
                if sock not in pairs:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                other, stream, tamper = pairs[sock]
                if not data:  # one side closed: close the other too, as a TCP path would
                    for end in (sock, other):
                        if pairs.pop(end, None) is not None:
                            sel.unregister(end)
                            end.close()
                    continue
                with contextlib.suppress(OSError):  # the other side is gone: its EOF closes
                    other.sendall(stream.feed(data, tamper) if stream else data)
        for sock in [self.listener, *pairs]:
            sock.close()

    def _accept(self, sel: selectors.BaseSelector,
                pairs: dict[socket.socket, tuple[socket.socket, ZmtpStream | None, Callable]]
                ) -> None:
        client, _ = self.listener.accept()
        raw = client.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port = struct.unpack_from("!H", raw, 2)[0]
        try:
            server = socket.create_connection(("127.0.0.1", port))
        except OSError:  # the destination is down (a killed agent): refuse, as it would
            client.close()
            return
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        dst = self.node_of_port.get(port, "?")
        pairs[client] = (server, ZmtpStream(), self._tamperer(dst))
        pairs[server] = (client, None, self._tamperer(dst))
        sel.register(client, selectors.EVENT_READ)
        sel.register(server, selectors.EVENT_READ)


__all__ = ["CorruptingRelay", "ZmtpStream"]
