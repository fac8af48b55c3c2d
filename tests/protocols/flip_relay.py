"""A TCP relay flipping one bit of the Nth ZeroMQ message frame it forwards upstream (test helper).

It reads the client -> server byte stream as ZMTP 3 (a 64-byte greeting, then frames: a flags
byte — bit 0 MORE, bit 1 LONG, bit 2 COMMAND — a 1- or 8-byte size, the body), skips commands
and empty frames, and in the `nth` non-empty message frame flips bit `mask` of the byte
`from_end` bytes before the body's end. Everything else, and the server -> client direction,
passes unchanged.
"""

from __future__ import annotations

from fsr.injector.relay import ZmtpStream
from tests.bus.relay import CountingRelay


class ZmtpFrameParser:
    """One upstream stream (fsr's `ZmtpStream`), flipping the `nth` non-empty message frame."""

    def __init__(self, nth: int, from_end: int, mask: int) -> None:
        self.nth, self.from_end, self.mask = nth, from_end, mask
        self.stream = ZmtpStream()
        self.frames = 0  # non-empty message frames seen
        self.flipped = False

    def _tamper(self, unit: bytearray, head: int, size: int) -> None:
        if unit[0] & 0x04:  # a command
            return
        self.frames += 1
        if self.frames == self.nth and size > self.from_end:
            unit[head + size - self.from_end] ^= self.mask
            self.flipped = True

    def feed(self, data: bytes) -> bytes:
        return self.stream.feed(data, self._tamper)


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
