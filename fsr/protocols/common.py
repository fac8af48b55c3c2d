"""Shared machinery of the request/answer framings (a2a, acp, agora) and small helpers all
framings use.

What lives here, once:
* which application kinds are requests awaiting a (streamed) answer, and which are one-way;
* `splice`: a JSON envelope with the application payload embedded byte for byte, so that
  `WireFrame.payload_len` is exact; `parse_json`: bytes -> object or `MalformedFrame`;
* `Outstanding`: the requester's table of requests still awaiting their answer — the peer, the
  id the peer gave the work (an A2A task id, an ACP run id) and the peer's incarnation when sent
  — and `hop_lost`, the local message for one the peer no longer knows;
* `WorkStore`: the responder's bounded table of work it accepted (tasks, runs);
* `ReattachingAdapter`: the reconnection step both task protocols share — on a completed
  handshake, report `peer_ready`, declare lost the requests a restarted peer cannot know, and
  re-attach (resubscribe / resume) the ones it gave an id to.
"""

from __future__ import annotations

import time
import uuid
from abc import abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fsr import events as ev
from fsr.protocols import jsonbytes, kinds
from fsr.protocols.base import (
    ID_BITS,
    LocalInfo,
    MalformedFrame,
    Message,
    ProtocolAdapter,
    WireFrame,
)
from fsr.protocols.failure import Backoff

# Application kinds a peer answers with a reply (`reply_to` = the request's msg_id). Any other
# kind without `reply_to` is one-way (the runner's `document` broadcast).

# Where `splice` puts the payload: a sentinel string no real envelope value contains.
PAYLOAD = "\x00fsr-payload\x00"


def new_id() -> str:
    """A version-4 UUID, drawn like `Message.msg_id` (no system call per id)."""
    return str(uuid.UUID(int=ID_BITS.getrandbits(128), version=4))


_second: list[Any] = [None, ""]  # the last whole second iso_now formatted, and its text


def iso_now() -> str:
    """An RFC 3339 UTC timestamp with milliseconds, as the SDKs emit them. The date and time of
    day are formatted once a second (datetime's isoformat cost ~9 % of a2a's data path)."""
    ns = time.time_ns()
    second = ns // 1_000_000_000
    if second != _second[0]:
        stamp = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        _second[:] = [second, stamp.replace("+00:00", "")]
    return f"{_second[1]}.{ns // 1_000_000 % 1000:03d}Z"


def compact(obj: Any) -> bytes:
    return jsonbytes.dumps(obj)


def splice(envelope: Any, payload: bytes) -> bytes:
    """Compact JSON of `envelope` whose one `PAYLOAD` value is replaced by `payload` verbatim."""
    head, sep, tail = compact(envelope).partition(compact(PAYLOAD))
    if not sep:
        raise ValueError("envelope has no PAYLOAD slot")
    return head + payload + tail


def parse_json(data: bytes, proto: str) -> Any:
    try:
        return jsonbytes.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"{proto}: not JSON: {exc}") from exc


def info_of(local: LocalInfo) -> dict[str, Any]:
    """What a node says about itself in a handshake (the fields `peer_ready` reports)."""
    return {"node_id": local.node_id, "role": local.role, "shard_version": local.shard_version,
            "incarnation": local.incarnation}


class Bounded(OrderedDict[str, Any]):
    """A dict that forgets its oldest entries past `cap` (ids of exchanges that never ended)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.cap:
            self.popitem(last=False)


@dataclass
class Pending:
    """A request we sent that still awaits its answer."""

    msg_id: str
    peer: str
    peer_incarnation: str | None
    remote_id: str | None = None  # the peer's id for the work, once it told us
    delivered: bool = False  # the reply reached our application


class Outstanding:
    def __init__(self, cap: int = 4096) -> None:
        self.by_msg: Bounded = Bounded(cap)
        self.by_remote: Bounded = Bounded(cap)
        self.incarnations: dict[str, str] = {}  # peer -> incarnation seen in its last handshake

    def add(self, peer: str, msg_id: str) -> Pending:
        p = Pending(msg_id, peer, self.incarnations.get(peer))
        self.by_msg[msg_id] = p
        return p

    def get(self, msg_id: str) -> Pending | None:
        return self.by_msg.get(msg_id)

    def bind(self, msg_id: str, remote_id: str) -> Pending | None:
        p = self.by_msg.get(msg_id)
        if p is not None and p.remote_id is None:
            p.remote_id = remote_id
            self.by_remote[remote_id] = p
        return p

    def find(self, remote_id: str) -> Pending | None:
        return self.by_remote.get(remote_id)

    def pop(self, msg_id: str) -> Pending | None:
        p = self.by_msg.pop(msg_id, None)
        if p is not None and p.remote_id is not None:
            self.by_remote.pop(p.remote_id, None)
        return p

    def open_to(self, peer: str) -> bool:
        """Whether a request to `peer` still awaits its answer."""
        return any(p.peer == peer and not p.delivered for p in self.by_msg.values())

    def reconnect(self, peer: str, incarnation: str | None) -> tuple[list[Pending], list[Pending]]:
        """After a handshake with `peer`: (requests to re-attach, requests surely lost).

        A request the peer gave an id to is re-attached on the wire — the peer itself says
        whether it still knows it. One it never acknowledged is lost only if the peer is a new
        process (its incarnation changed); otherwise its answer may still be on its way.
        """
        if incarnation is not None:
            self.incarnations[peer] = incarnation
        reattach, lost = [], []
        for p in [p for p in self.by_msg.values() if p.peer == peer and not p.delivered]:
            if p.remote_id is not None:
                reattach.append(p)
            elif incarnation is not None and p.peer_incarnation not in (None, incarnation):
                lost.append(self.pop(p.msg_id) or p)
        return reattach, lost


@dataclass
class Work:
    """A request this node accepted as a responder: an A2A task, an ACP run."""

    work_id: str
    client: str
    request_id: str  # the request's msg_id
    kind: str  # the request's application kind
    context_id: str
    stream_id: str  # the id the client correlates the answer by (a resubscription changes it)
    state: str
    created: str = field(default_factory=iso_now)
    events: deque[Any] = field(default_factory=deque)  # answer events not yet on the wire
    reply: Message | None = None  # the application's answer, kept for a resumed stream


class WorkStore:
    def __init__(self, cap: int = 1024) -> None:
        self.by_id: Bounded = Bounded(cap)
        self.by_request: Bounded = Bounded(cap)

    def open(self, client: str, request_id: str, kind: str, context_id: str,
             state: str) -> Work:
        w = Work(new_id(), client, request_id, kind, context_id, request_id, state)
        self.by_id[w.work_id] = w
        self.by_request[request_id] = w
        return w

    def get(self, work_id: str) -> Work | None:
        return self.by_id.get(work_id)

    def for_request(self, request_id: str | None) -> Work | None:
        return self.by_request.get(request_id or "")


class ReattachingAdapter(ProtocolAdapter):
    """A framing whose requests become remote work (tasks, runs) that survives a reconnection.

    Subclasses send their handshake request and call `handshake_done` with the peer's answer;
    they say how to re-attach one request (`reattach_frame`).
    """

    def __init__(self, transport: Any, local: LocalInfo) -> None:
        super().__init__(transport, local)
        self.outstanding = Outstanding()
        self.work = WorkStore()
        self.handshakes: Bounded = Bounded(256)  # handshake request id -> peer
        self.reattaching: Bounded = Bounded(1024)  # re-attach request id -> our request msg_id
        self.recovering: dict[str, int] = {}  # request msg_id -> re-attach attempts so far

    @abstractmethod
    def reattach_frame(self, peer: str, pending: Pending, request_id: str) -> WireFrame:
        """The frame asking `peer` to continue the answer to `pending` (resubscribe/resume)."""

    def handshake_done(self, peer: str, info: dict[str, Any]) -> list[Message]:
        reattach, lost = self.outstanding.reconnect(peer, info.get("incarnation"))
        for p in reattach:
            self._reattach(p)
        return [self.peer_ready(peer, info), *(self.hop_lost(p) for p in lost)]

    def _reattach(self, p: Pending) -> bool:
        rid = new_id()
        self.reattaching[rid] = p.msg_id
        self.transport.record(ev.REATTACH, peer=p.peer, re=p.msg_id, remote=p.remote_id)
        if not self.send_frames(p.peer, [self.reattach_frame(p.peer, p, rid)]):
            self.reattaching.pop(rid, None)
            return False
        return True

    # -- failure handling ---------------------------------------------------------------------
    def open_requests(self, peer: str) -> bool:
        return self.outstanding.open_to(peer)

    def recover(self, peer: str, msg_id: str, backoff: Backoff) -> bool:
        """Re-attach (resubscribe) to the work `peer` accepted for `msg_id`, on `backoff`; a
        request the peer never acknowledged has nothing to re-attach to."""
        p = self.outstanding.get(msg_id)
        if p is None or p.remote_id is None or p.delivered:
            return False
        self.recovering[msg_id] = 0
        self.transport.call_later(backoff.delay(0), lambda: self._retry(msg_id, backoff))
        return True

    def _retry(self, msg_id: str, backoff: Backoff) -> None:
        attempt = self.recovering.get(msg_id)
        p = self.outstanding.get(msg_id)
        if attempt is None or p is None:  # answered, or the agent moved on
            self.recovering.pop(msg_id, None)
            return
        if attempt >= backoff.tries:
            self.forget(msg_id)
            self.transport.record(ev.REATTACH_GAVE_UP, peer=p.peer, re=msg_id, tries=attempt)
            self.transport.hop_lost(msg_id, "reattach_gave_up")
            return
        self.recovering[msg_id] = attempt + 1
        self._reattach(p)  # a refused send is just a failed attempt: the peer may be back later
        self.transport.call_later(backoff.delay(attempt + 1),
                                  lambda: self._retry(msg_id, backoff))

    def reattached(self, request_id: str) -> None:
        """A re-attach was answered with the work's events: its recovery is over."""
        mid = self.reattaching.pop(request_id, None)
        if mid is not None:
            self.recovering.pop(mid, None)

    def forget(self, msg_id: str) -> None:
        self.outstanding.pop(msg_id)
        self.recovering.pop(msg_id, None)

    def reattach_failed(self, request_id: str, why: str) -> list[Message]:
        """The peer does not know the work a re-attach named: that hop is lost."""
        mid = self.reattaching.pop(request_id, None)
        if mid is not None:
            self.recovering.pop(mid, None)
        p = self.outstanding.pop(mid) if mid else None
        if p is None:
            return []
        self.transport.record(ev.REATTACH_FAILED, peer=p.peer, re=p.msg_id, why=why[:120])
        return [self.hop_lost(p)]

    def hop_lost(self, p: Pending) -> Message:
        return hop_lost(p)


def hop_lost(p: Pending) -> Message:
    """The local message that tells the agent `p.peer` no longer knows request `p`."""
    return Message(kind=kinds.HOP_LOST, body={"reply_to": p.msg_id}, sender=p.peer)
