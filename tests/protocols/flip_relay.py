"""A TCP relay flipping one bit of the Nth ZeroMQ message frame it forwards upstream (test helper).

It reads the client -> server byte stream as ZMTP 3 (a 64-byte greeting, then frames: a flags
byte — bit 0 MORE, bit 1 LONG, bit 2 COMMAND — a 1- or 8-byte size, the body), skips commands
and empty frames, and in the `nth` non-empty message frame flips bit `mask` of the byte
`from_end` bytes before the body's end. Everything else, and the server -> client direction,
passes unchanged. Modelled on `tests/bus/relay.py`.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading

GREETING = 64


class ZmtpFrameParser:
    """Consumes a ZMTP byte stream; returns whole units (greeting, frames), maybe tampered."""

    def __init__(self, nth: int, from_end: int, mask: int) -> None:
        self.nth, self.from_end, self.mask = nth, from_end, mask
        self.buf = bytearray()
        self.greeting_left = GREETING
        self.frames = 0  # non-empty message frames seen
        self.flipped = False

    def feed(self, data: bytes) -> bytes:
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
            if not flags & 0x04 and size > 0:
                self.frames += 1
                if self.frames == self.nth and size > self.from_end:
                    unit[head + size - self.from_end] ^= self.mask
                    self.flipped = True
            out += unit
        return bytes(out)


class FlipRelay:
    """Listens on a free loopback port and forwards every connection to ``target_port``."""

    def __init__(self, target_port: int, nth: int, from_end: int = 20, mask: int = 0x01) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.parsers: list[ZmtpFrameParser] = []
        self._args = (nth, from_end, mask)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def flipped(self) -> bool:
        return any(p.flipped for p in self.parsers)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        # socket -> (peer socket, parser of this direction or None)
        pairs: dict[socket.socket, tuple[socket.socket, ZmtpFrameParser | None]] = {}
        while not self._stop:
            for key, _ in sel.select(timeout=0.05):
                sock = key.fileobj
                if sock is self.listener:
                    client, _ = self.listener.accept()
                    server = socket.create_connection(self.target)
                    parser = ZmtpFrameParser(*self._args)
                    self.parsers.append(parser)
                    pairs[client] = (server, parser)
                    pairs[server] = (client, None)
                    sel.register(client, selectors.EVENT_READ)
                    sel.register(server, selectors.EVENT_READ)
                    continue
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                other, parser = pairs[sock]
                if not data:
                    sel.unregister(sock)
                    sock.close()
                    continue
                other.sendall(parser.feed(data) if parser is not None else data)

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.listener.close()
