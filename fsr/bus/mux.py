"""Mixed meshes: the nodes of one run speaking different protocols (``protocols.by_role``).

A node's inbox is its own protocol's endpoint. A request to a node is framed in that node's
protocol, by the sender's adapter *for that protocol*, and the node answers in the same protocol
— as a real client calls a server's endpoint and reads the answer off the same connection. In
fsr an answer travels on the answering node's own DEALER into the asker's inbox, though, where
the asker's own protocol is the default. So a frame whose protocol is not its receiver's own
goes behind one tag part naming the protocol (its name, like the SWIM plane's ``swim`` tag), and
the receiver hands it to its adapter of that protocol (`ProtocolPort` tags; `fsr.bus.mesh` reads
the tags back). A heartbeat is tagged with its publisher's protocol in a mixed mesh: a PUB does
not know its subscribers' protocols.

A run with one protocol has no tags: its wire is byte for byte what it is without this module.
A tag's bytes are counted where it goes: on the ``send`` of the first frame it precedes (`mux`:
its wire bytes, also in that frame's ``wire``, ``env`` and, under CURVE, ``sec``), and in each
heartbeat's bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fsr.protocols.base import WireFrame


def tag_of(protocol: str) -> bytes:
    """The tag part of `protocol`'s frames: its name, which no protocol's frame equals (each
    is a JSON object or an HTTP message); a hostile frame that does is read as that protocol's
    and dropped by its adapter, counted."""
    return protocol.encode()


def count_tag(fields: dict[str, Any], tag: bytes, wire: Mapping[str, int]) -> None:
    """Add a tag part's bytes (`wire`: its `Mesh.wire` fields) to the ``send`` event's fields
    of the frame it goes before (whose ``mux`` says how many of them are the tag's)."""
    fields["env"] += len(tag)
    for key, value in wire.items():
        fields[key] = fields.get(key, 0) + value


class PortHost(Protocol):
    """What a port needs of its node (`fsr.bus.node.MeshNode`)."""

    def send_frame(self, dest: str, frame: WireFrame, tag: bytes = b"") -> bool: ...

    def record(self, event: str, **fields: Any) -> None: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> None: ...

    def hop_lost(self, msg_id: str, reason: str) -> None: ...


class ProtocolPort:
    """The `fsr.protocols.base.Transport` of one adapter of a mixed-mesh node: the node's,
    with each frame tagged when its receiver speaks another protocol."""

    def __init__(self, node: PortHost, protocol: str, protocol_of: Mapping[str, str],
                 default: str) -> None:
        self.node, self.protocol = node, protocol
        self.protocol_of, self.default = protocol_of, default
        self.tag = tag_of(protocol)

    def send_frame(self, dest: str, frame: WireFrame) -> bool:
        mine = self.protocol_of.get(dest, self.default) == self.protocol
        return self.node.send_frame(dest, frame, b"" if mine else self.tag)

    def record(self, event: str, **fields: Any) -> None:
        self.node.record(event, **fields)

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.node.call_later(delay, fn)

    def hop_lost(self, msg_id: str, reason: str) -> None:
        self.node.hop_lost(msg_id, reason)
