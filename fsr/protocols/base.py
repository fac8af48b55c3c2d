"""The ProtocolAdapter interface every framing implements.

The agents speak in `Message`s (a kind, a body, ids). An adapter turns each into one or more
single-part wire frames (`WireFrame`) and back, and owns whatever the real protocol adds on the
way: envelopes, integrity checks, event streams, its own heartbeat body and its reconnection
handshake. The bus (`fsr.bus`) moves and counts the frames; it never looks inside them.

A subclass implements `encode`, `decode`, `encode_heartbeat`, `decode_heartbeat` and
`start_handshake`; everything else (byte accounting, logging, dropping malformed frames) lives
here once.
"""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fsr import events as ev
from fsr.protocols import jsonbytes, kinds

if TYPE_CHECKING:
    from fsr.protocols.failure import Backoff, FailureDesign

# Where message ids come from: a generator of this module's own (no one else's seed() can make
# two processes agree), seeded from os.urandom at import and again in every forked child. Not
# os.urandom per id: a system call per message costs microseconds in the run's sandbox.
ID_BITS = random.Random()
os.register_at_fork(after_in_child=ID_BITS.seed)


class MalformedFrame(ValueError):
    """A frame that does not parse as this protocol; it is counted and dropped."""


def new_msg_id() -> str:
    """16 random hex digits, the shape uuid4().hex[:16] had."""
    return ID_BITS.getrandbits(64).to_bytes(8).hex()


# Messages and frames are made for every frame on the wire: plain slotted classes, not frozen
# ones (a frozen dataclass sets each field through object.__setattr__: 1.3 against 0.3 µs).
@dataclass(slots=True)
class Message:
    kind: str
    body: dict[str, Any]
    msg_id: str = field(default_factory=new_msg_id)
    reply_to: str | None = None
    sender: str = ""  # filled in on receipt

    @property
    def category(self) -> str:
        return kinds.CATEGORY.get(self.kind, "task")


@dataclass(slots=True, eq=False)  # compared and hashed by identity: a frame is one send
class WireFrame:
    """One single-part ZeroMQ message body, with what the byte report needs to know of it."""

    data: bytes
    payload_len: int  # bytes of application payload inside `data`; the rest is envelope
    category: str  # task | heartbeat | handshake | broadcast | control
    kind: str  # protocol-level name, e.g. "a2a.status-update", for the log
    msg_id: str = ""


@dataclass(frozen=True)
class Heartbeat:
    node_id: str
    incarnation: str  # changes on every process start, so a restart is told from a pause
    seq: int


@dataclass
class LocalInfo:
    """What a node says about itself in handshakes; `shard_version` changes as shards arrive."""

    node_id: str
    role: str
    incarnation: str
    port: int
    shard_version: int = 0


class Transport(Protocol):
    """What the bus offers an adapter."""

    def send_frame(self, dest: str, frame: WireFrame) -> bool: ...

    def record(self, event: str, **fields: Any) -> None:
        """Append an event to the run's log."""

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the node's loop in `delay` seconds."""

    def hop_lost(self, msg_id: str, reason: str) -> None:
        """The adapter gives up on request `msg_id` (e.g. its resubscriptions ran out)."""


def canonical(body: Any) -> bytes:
    """The application payload as compact JSON: the unit `payload_len` is measured in."""
    return jsonbytes.dumps(body, sort_keys=True)


class ProtocolAdapter(ABC):
    name: ClassVar[str]
    # The protocol's own failure handling (`fsr.protocols.failure`); None: json's baseline.
    DESIGN: ClassVar[FailureDesign | None] = None
    # The protocol routes every message through a hub process (`fsr.protocols.HUB_ID`): the run
    # plan adds it, with no roles and no shard, and the topology is its star.
    HUB: ClassVar[bool] = False

    def __init__(self, transport: Transport, local: LocalInfo) -> None:
        self.transport = transport
        self.local = local

    # -- the interface the agents use -------------------------------------------------------
    def send_message(self, dest: str, message: Message) -> bool:
        """Frame `message` for `dest` and send it; False if the bus could not send a frame."""
        return self.send_frames(dest, self.encode(dest, message))

    def receive_message(self, sender: str, data: bytes) -> list[Message]:
        """One frame from the bus; the application messages it completes. A frame that does
        not parse is counted (frame_dropped, with the reason) and dropped."""
        try:
            return self.decode(sender, data)
        except MalformedFrame as exc:
            self.transport.record(ev.FRAME_DROPPED, src=sender, reason=str(exc)[:200],
                                  wire=len(data))
            return []

    # -- what a protocol implements -----------------------------------------------------------
    @abstractmethod
    def encode(self, dest: str, message: Message) -> list[WireFrame]: ...

    @abstractmethod
    def decode(self, sender: str, data: bytes) -> list[Message]:
        """Parse a frame; may send protocol replies itself; raise MalformedFrame on garbage."""

    @abstractmethod
    def encode_heartbeat(self, hb: Heartbeat) -> WireFrame: ...

    @abstractmethod
    def decode_heartbeat(self, data: bytes) -> Heartbeat: ...

    @abstractmethod
    def start_handshake(self, peer: str) -> bool:
        """Begin (re)connecting to `peer`; completion arrives later as a `peer_ready` message."""

    # Seconds between `tick` calls the framing needs at least (None: only the loop's own
    # turns); an idle node otherwise sleeps until its next timer or socket event.
    TICK_INTERVAL: float | None = None

    def tick(self, now: float) -> None:  # noqa: B027 - optional hook
        """Called every loop turn: retransmits, protocol-internal timeouts."""

    # -- failure handling: the hooks a `FailureDesign` needs ----------------------------------
    def open_requests(self, peer: str) -> bool:
        """Whether a request to `peer` awaits its answer on an open stream (``stream``)."""
        return False

    def send_ping(self, peer: str, seq: int) -> bool:
        """Send one liveness ping (``ping``); the answer comes back as a `pong` message."""
        raise NotImplementedError(f"{self.name} has no ping")

    def recover(self, peer: str, msg_id: str, backoff: Backoff) -> bool:
        """`peer` was lost with request `msg_id` outstanding: True if the adapter recovers it
        itself (``on_lost: resubscribe``), asking again on the `backoff` schedule until the
        answer arrives or it gives up with `Transport.hop_lost`."""
        return False

    def forget(self, msg_id: str) -> None:  # noqa: B027 - optional hook
        """The agent is done with request `msg_id` (answered, failed or re-published)."""

    # -- helpers for subclasses ---------------------------------------------------------------
    def send_frames(self, dest: str, frames: list[WireFrame]) -> bool:
        send = self.transport.send_frame
        for frame in frames:  # noqa: SIM110 - all() over a generator costs 0.3 µs more a frame
            if not send(dest, frame):
                return False
        return True

    def peer_ready(self, peer: str, info: dict[str, Any]) -> Message:
        body = {"peer": peer, **{k: info.get(k) for k in ("role", "shard_version", "incarnation")}}
        return Message(kind=kinds.PEER_READY, body=body, sender=peer)
