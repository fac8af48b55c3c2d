"""Hops in flight: request messages awaiting a reply, and what happens when one never comes.

A hop is failed — and handed back to its owner to re-publish — when its peer is suspected dead
by the heartbeat monitor, when it times out, when the bus cannot send it, or when the peer's
protocol says it lost the request. Exactly one outcome reaches the owner per hop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fsr.protocols import Message


@dataclass
class Hop:
    dest: str
    message: Message
    on_reply: Callable[[Message], None]
    on_fail: Callable[[str], None]
    meta: dict[str, Any] = field(default_factory=dict)


class HopTracker:
    def __init__(self, node: Any, timeout: float) -> None:
        self.node = node  # a MeshNode: adapter, timers, log
        self.timeout = timeout
        self.pending: dict[str, Hop] = {}

    def send(self, hop: Hop) -> None:
        mid = hop.message.msg_id
        self.pending[mid] = hop
        self.node.record("hop_sent", dst=hop.dest, kind=hop.message.kind, mid=mid, **hop.meta)
        if not self.node.adapter.send_message(hop.dest, hop.message):
            self.node.unreachable(hop.dest)
            # Fail on the next loop turn, not inside the caller's stack.
            self.node.call_later(0, lambda: self.fail(mid, "send_failed"))
            return
        self.node.call_later(self.timeout, lambda: self.fail(mid, "timeout"))

    def reply(self, msg: Message) -> bool:
        hop = self.pending.pop(msg.reply_to or "", None)
        if hop is None:
            self.node.record("stale_reply", src=msg.sender, kind=msg.kind, re=msg.reply_to)
            return False
        hop.on_reply(msg)
        return True

    def fail(self, mid: str, reason: str) -> None:
        hop = self.pending.pop(mid, None)
        if hop is not None:
            self.node.record("hop_failed", dst=hop.dest, mid=mid, reason=reason, **hop.meta)
            hop.on_fail(reason)

    def peer_lost(self, peer: str) -> None:
        for mid in [m for m, h in self.pending.items() if h.dest == peer]:
            self.fail(mid, "suspected")
