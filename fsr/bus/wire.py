"""Wire-byte accounting: what ZeroMQ (ZMTP 3.1, NULL security) puts on TCP for our traffic.

Formulas (ZMTP 3.1, rfc.zeromq.org/spec/37):

* a message frame of ``n`` body bytes costs ``1 (flags) + 1 (size) + n`` if ``n <= 255``, else
  ``1 + 8 + n``; a multipart message is the sum over its frames;
* a connection handshake costs two 64-byte greetings plus one READY command each way; a READY
  carries the ``Socket-Type`` property and, for DEALER/ROUTER/REQ sockets, ``Identity``; a
  property costs ``1 + len(name) + 4 + len(value)``, the command body ``1 + len("READY")`` plus
  its properties, framed like a message frame;
* a SUB socket then sends one SUBSCRIBE command per topic (ZMTP 3.1): a command frame whose
  body is ``len("SUBSCRIBE") as one byte + "SUBSCRIBE" + topic``.

`tests/bus/test_wire.py` checks these against the bytes a TCP relay really forwards.
"""

from __future__ import annotations

GREETING = 64
_IDENTITY_TYPES = {"DEALER", "ROUTER", "REQ"}


def frame_bytes(n: int) -> int:
    """Wire bytes of one ZMTP frame with an ``n``-byte body."""
    return n + (2 if n <= 255 else 9)


def message_bytes(frames: list[bytes] | list[int]) -> int:
    """Wire bytes of a multipart message (frame bodies or their lengths)."""
    return sum(frame_bytes(f if isinstance(f, int) else len(f)) for f in frames)


def _ready_bytes(socket_type: str, identity: bytes) -> int:
    props = 1 + len("Socket-Type") + 4 + len(socket_type)
    if socket_type in _IDENTITY_TYPES:
        props += 1 + len("Identity") + 4 + len(identity)
    return frame_bytes(1 + len("READY") + props)


def handshake_bytes(
    local_type: str, peer_type: str, local_identity: bytes = b"", peer_identity: bytes = b""
) -> int:
    """Bytes both sides put on the wire to open one connection, SUBSCRIBE messages excluded."""
    return 2 * GREETING + _ready_bytes(local_type, local_identity) + _ready_bytes(
        peer_type, peer_identity
    )


def subscribe_bytes(topic: bytes = b"") -> int:
    return frame_bytes(1 + len("SUBSCRIBE") + len(topic))
