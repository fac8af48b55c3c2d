"""Wire-byte accounting: what ZeroMQ (ZMTP 3.1, NULL or CURVE security) puts on TCP for our traffic.

Formulas, NULL security (ZMTP 3.1, rfc.zeromq.org/spec/37):

* a message frame of ``n`` body bytes costs ``1 (flags) + 1 (size) + n`` if ``n <= 255``, else
  ``1 + 8 + n``; a multipart message is the sum over its frames;
* a connection handshake costs two 64-byte greetings plus one READY command each way; a READY
  carries the ``Socket-Type`` property and, for DEALER/ROUTER/REQ sockets, ``Identity``; a
  property costs ``1 + len(name) + 4 + len(value)``, the command body ``1 + len("READY")`` plus
  its properties, framed like a message frame;
* a SUB socket then sends one SUBSCRIBE command per topic (ZMTP 3.1): a command frame whose
  body is ``len("SUBSCRIBE") as one byte + "SUBSCRIBE" + topic``.

CURVE security (ZMTP-CURVE rfc.zeromq.org/spec/25, CurveZMQ spec/26; libzmq 4.3 as bundled
with pyzmq):

* every frame, commands sent after the handshake (SUBSCRIBE) included, travels as a MESSAGE
  command: ``1 + len("MESSAGE")`` + 8-byte short nonce + a box of 16-byte MAC + 1 flags byte +
  the ``n`` body bytes, i.e. ``n + 33`` bytes framed like a message frame (so the long-frame
  size field starts at ``n = 223``);
* the handshake replaces the two READYs with HELLO (200-byte body) and INITIATE (client to
  server) and WELCOME (168) and READY (server to client). INITIATE carries the client's
  metadata in a box: ``1 + len("INITIATE")`` + 96 cookie + 8 nonce + 16 MAC + 32 client key +
  16 vouch nonce + 80 vouch box + properties; the READY ``1 + len("READY")`` + 8 nonce + 16 MAC
  + properties. The greetings are still 64 bytes each.

`tests/bus/test_wire.py` checks these against the bytes a TCP relay really forwards.
"""

from __future__ import annotations

GREETING = 64
_IDENTITY_TYPES = {"DEALER", "ROUTER", "REQ"}
CURVE_FRAME = 1 + len("MESSAGE") + 8 + 16 + 1  # added to every frame's body under CURVE
_HELLO = 1 + len("HELLO") + 2 + 72 + 32 + 8 + 80  # version, padding, C', nonce, box
_WELCOME = 1 + len("WELCOME") + 16 + 144  # nonce, box
_INITIATE = 1 + len("INITIATE") + 96 + 8 + 16 + 32 + 16 + 80  # plus the client's properties
_CURVE_READY = 1 + len("READY") + 8 + 16  # plus the server's properties


def frame_bytes(n: int, curve: bool = False) -> int:
    """Wire bytes of one ZMTP frame with an ``n``-byte body."""
    if curve:
        n += CURVE_FRAME
    return n + (2 if n <= 255 else 9)


def message_bytes(frames: list[bytes] | list[int], curve: bool = False) -> int:
    """Wire bytes of a multipart message (frame bodies or their lengths)."""
    return sum(frame_bytes(f if isinstance(f, int) else len(f), curve) for f in frames)


def _properties(socket_type: str, identity: bytes) -> int:
    props = 1 + len("Socket-Type") + 4 + len(socket_type)
    if socket_type in _IDENTITY_TYPES:
        props += 1 + len("Identity") + 4 + len(identity)
    return props


def handshake_bytes(local_type: str, peer_type: str, local_identity: bytes = b"",
                    peer_identity: bytes = b"", curve: bool = False) -> int:
    """Bytes both sides put on the wire to open one connection, SUBSCRIBE messages excluded.
    The local side is the one that connects (the CURVE client)."""
    local, peer = _properties(local_type, local_identity), _properties(peer_type, peer_identity)
    if curve:
        return (2 * GREETING + frame_bytes(_HELLO) + frame_bytes(_WELCOME)
                + frame_bytes(_INITIATE + local) + frame_bytes(_CURVE_READY + peer))
    ready = 1 + len("READY")
    return 2 * GREETING + frame_bytes(ready + local) + frame_bytes(ready + peer)


def subscribe_bytes(topic: bytes = b"", curve: bool = False) -> int:
    return frame_bytes(1 + len("SUBSCRIBE") + len(topic), curve)
