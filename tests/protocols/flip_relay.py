"""A TCP relay flipping one bit of the Nth ZeroMQ message frame it forwards upstream (test helper).

It reads the client -> server byte stream as ZMTP 3 (a 64-byte greeting, then frames: a flags
byte — bit 0 MORE, bit 1 LONG, bit 2 COMMAND — a 1- or 8-byte size, the body), skips commands
and empty frames, and in the `nth` non-empty message frame flips bit `mask` of the byte
`from_end` bytes before the body's end. Everything else, and the server -> client direction,
passes unchanged.
"""

from __future__ import annotations

import struct

from tests.bus.relay import CountingRelay

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


class FlipRelay(CountingRelay):
    """A `CountingRelay` whose upstream bytes pass through a `ZmtpFrameParser`."""

    def __init__(self, target_port: int, nth: int, from_end: int = 20, mask: int = 0x01) -> None:
        self.parsers: list[ZmtpFrameParser] = []
        self._args = (nth, from_end, mask)
        super().__init__(target_port)

    @property
    def flipped(self) -> bool:
        return any(p.flipped for p in self.parsers)

    def on_connection(self) -> ZmtpFrameParser:
        parser = ZmtpFrameParser(*self._args)
        self.parsers.append(parser)
        return parser

    def forward(self, data: bytes, upstream: bool, state: ZmtpFrameParser) -> bytes:
        data = super().forward(data, upstream, state)
        return state.feed(data) if upstream else data
