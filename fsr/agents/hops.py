"""Hops in flight: request messages awaiting a reply, and what happens when one never comes.

A hop is failed — and handed back to its owner to re-publish — when the protocol's design loses
its peer (`fsr.protocols.failure`), when it times out (the design's request timeout), when the
bus cannot send it (which loses the peer too), or when the peer's protocol says it lost the
request. A design that resubscribes instead *holds* the hop while its adapter asks the same peer
again (ioa's also a hop whose first send was refused); the adapter
then delivers the answer or gives up (`hop_lost`). Exactly one outcome reaches the owner per hop,
and the adapter hears of it (`forget`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.protocols import Message

if TYPE_CHECKING:
    from fsr.agents.contracts import HopHost


@dataclass
class Hop:
    dest: str
    message: Message
    on_reply: Callable[[Message], None]
    on_fail: Callable[[str], None]
    meta: dict[str, Any] = field(default_factory=dict)
    held: bool = False  # the protocol is recovering it (resubscribing); no timeout applies


class HopTracker:
    def __init__(self, node: HopHost) -> None:
        self.node = node
        self.pending: dict[str, Hop] = {}

    def send(self, hop: Hop) -> None:
        mid = hop.message.msg_id
        self.pending[mid] = hop
        self.node.record(ev.HOP_SENT, dst=hop.dest, kind=hop.message.kind, mid=mid, **hop.meta)
        if not self.node.adapter_for(hop.dest).send_message(hop.dest, hop.message):
            self.node.unreachable(hop.dest)  # the peer is lost: the design may hold the hop
            # Fail on the next loop turn, not inside the caller's stack.
            self.node.call_later(0, lambda: self._refused(mid))
            return
        # the request timeout of the design that handles the peer; None: a request waits
        timeout = self.node.recovery.design_of(hop.dest).request_timeout
        if timeout is not None:
            self.node.call_later(timeout, lambda: self._timed_out(mid))

    def _refused(self, mid: str) -> None:
        """The bus could not send hop `mid`: failed, unless its protocol holds it (ioa's client
        sends a refused message again, `fsr.protocols.ioa`)."""
        hop = self.pending.get(mid)
        if hop is not None and not hop.held:
            self.fail(mid, "send_failed")

    def _timed_out(self, mid: str) -> None:
        hop = self.pending.get(mid)
        if hop is None or hop.held:  # answered, failed, or the protocol is recovering it
            return
        self.fail(mid, "timeout")
        self.node.request_timed_out(hop.dest)

    def reply(self, msg: Message) -> bool:
        hop = self.pending.pop(msg.reply_to or "", None)
        if hop is None:
            self.node.record(ev.STALE_REPLY, src=msg.sender, kind=msg.kind, re=msg.reply_to)
            return False
        self.node.adapter_for(hop.dest).forget(hop.message.msg_id)
        # the hop's end, as hop_failed is the other: `fsr.metrics.inflight` reads both
        self.node.record(ev.HOP_DONE, dst=hop.dest, mid=hop.message.msg_id)
        hop.on_reply(msg)
        return True

    def fail(self, mid: str, reason: str) -> None:
        hop = self.pending.pop(mid, None)
        if hop is not None:
            self.node.adapter_for(hop.dest).forget(mid)  # its protocol stops recovering it
            self.node.record(ev.HOP_FAILED, dst=hop.dest, mid=mid, reason=reason, **hop.meta)
            hop.on_fail(reason)

    def cancel(self, mid: str, reason: str) -> None:
        """Let a hop go without telling its owner (which asked for it: a hedged twin answered);
        its end is logged as a failure with `reason`, so the metrics see it let go."""
        hop = self.pending.pop(mid, None)
        if hop is not None:
            self.node.adapter_for(hop.dest).forget(mid)
            self.node.record(ev.HOP_FAILED, dst=hop.dest, mid=mid, reason=reason, **hop.meta)

    def has(self, peer: str) -> bool:
        return any(h.dest == peer for h in self.pending.values())

    def peer_lost(self, peer: str, how: str) -> None:
        """Each hop to `peer`: held if its protocol keeps it (`Recovery.keeps_hop`), else
        failed now (so its owner re-publishes it)."""
        for mid, hop in [(m, h) for m, h in self.pending.items() if h.dest == peer]:
            if hop.held:
                continue
            if self.node.recovery.keeps_hop(
                    peer, functools.partial(self.node.adapter_for(peer).recover, peer, mid)):
                hop.held = True
                self.node.record(ev.HOP_HELD, dst=peer, mid=mid, how=how, **hop.meta)
            else:
                self.fail(mid, how)
