"""The search stage at a search agent (`SearchRun`): fan `lookup` (lookup_fragment) out to live
holders covering every fragment, re-cover the fragments of a failed holder from other replicas,
merge the hits — and, with ``recovery.hedge``, ask another cover of a holder's fragments once its
lookup has waited past the lookups' tail latency (`fsr.agents.hedge`).

The unit is a *leg*: the fragments one holder was first asked for. A leg is answered by a
*copy*, a set of lookups that together cover its fragments: one lookup, until its holder fails
and its fragments are re-covered from other replicas within the copy. A hedge adds a second copy
that avoids the first's holders. The first copy whose lookups have all answered answers the leg
(one that lost fragments waits while the other may still cover them), and the other copy's
outstanding lookups are let go (``hop_failed``, reason ``hedged``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.agents.hops import Hop
from fsr.agents.tools import merge_hits
from fsr.protocols import Message, kinds

if TYPE_CHECKING:
    from fsr.agents.contracts import PipelineHost

Hits = list[dict[str, Any]]
LOOKUP = "lookup"  # the class whose latencies set a lookup's hedge delay


@dataclass(eq=False)
class Copy:
    parts: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # mid -> holder, fids
    hits: list[Hits] = field(default_factory=list)
    missing: int = 0


@dataclass(eq=False)
class Leg:
    fids: list[str]
    copies: list[Copy] = field(default_factory=list)
    done: bool = False

    def busy(self, but: Copy | None = None) -> set[str]:
        """The holders the leg's other copies are waiting on."""
        return {h for c in self.copies if c is not but for h, _ in c.parts.values()}


class SearchRun:
    """The search stage (a `stage_request`), or a relayed `lookup` whose fragments are partly
    held beyond this agent's neighbours (`fsr.bus.topology`): the same cover, merged."""

    def __init__(self, agent: PipelineHost, request: Message) -> None:
        self.agent, self.request = agent, request
        self.task_id = request.body["task_id"]
        self.is_lookup = request.kind == kinds.LOOKUP
        self.fids: list[str] | None = request.body.get("fids") if self.is_lookup else None
        self.question = (request.body["question"] if self.is_lookup
                         else request.body["input"]["question"])
        self.hits: list[Hits] = []
        self.pending = 0  # legs unanswered, and this agent's own lookup
        self.missing = 0
        self.failed_holders: set[str] = set()
        self.sent = 0
        self.sent_at: dict[str, float] = {}  # the hedge's clock, never a figure

    def start(self) -> None:
        assert self.agent.shard is not None  # a search starts only once the shard is in
        own, rest = self.agent.shard.split(self.fids)
        if own:
            self.pending += 1  # before the cover, so no reply leaves while this one works
        plan, lost = self.agent.router.cover(rest, exclude=self.failed_holders,
                                             salt=self.task_id)
        self.missing += len(lost)
        for holder, group in plan.items():
            leg = Leg(group, [Copy()])
            self.pending += 1
            self._ask(leg, leg.copies[0], holder, group, retry=False)
            self._arm_hedge(leg)
        if own:
            self.agent.server.lookup_local(self.task_id, self.question, own, self._own_hits)
        else:
            self.maybe_reply()

    def _own_hits(self, hits: Hits) -> None:
        self.pending -= 1
        self.hits.insert(0, hits)  # this agent's own hits first, as they always were
        self.maybe_reply()

    def _ask(self, leg: Leg, copy: Copy, holder: str, group: list[str], retry: bool,
             hedge: bool = False) -> None:
        self.sent += 1
        body = {"task_id": self.task_id, "question": self.question, "fids": group,
                "k": self.agent.top_k}
        meta: dict[str, Any] = {"task": self.task_id, "stage": LOOKUP, "attempt": self.sent,
                                "retry": retry}
        if hedge:
            meta["hedge"] = True
        if self.is_lookup:  # a relay's leg of a lookup it was passed
            meta["relay"] = True
            self.agent.record(ev.HOP_RELAYED, task=self.task_id, kind="lookup", stage=LOOKUP,
                              src=self.request.sender, dst=holder, mid=self.request.msg_id)
        msg = Message(kinds.LOOKUP, body)
        copy.parts[msg.msg_id] = (holder, group)
        self.sent_at[msg.msg_id] = time.time()
        self.agent.hops.send(Hop(holder, msg, partial(self._answered, leg, copy),
                                 partial(self._failed, leg, copy, msg.msg_id), meta))

    def _recover(self, leg: Leg, copy: Copy, fids: list[str]) -> None:
        """Cover `fids` again within `copy`, from holders neither failed nor busy on the leg."""
        plan, lost = self.agent.router.cover(
            fids, exclude=self.failed_holders | leg.busy(but=copy), salt=self.task_id)
        copy.missing += len(lost)
        for holder, group in plan.items():
            self._ask(leg, copy, holder, group, retry=True)

    def _answered(self, leg: Leg, copy: Copy, msg: Message) -> None:
        mid = msg.reply_to or ""
        if "error" in msg.body:
            self._failed(leg, copy, mid, "tool_error")
            return
        if copy.parts.pop(mid, None) is None or leg.done:
            return
        if self.agent.hedging is not None:
            self.agent.hedging.observe(LOOKUP, time.time() - self.sent_at.pop(mid))
        copy.hits.append(msg.body.get("hits", []))
        copy.missing += msg.body.get("missing") or 0  # lost beyond a relay
        self._check(leg)

    def _failed(self, leg: Leg, copy: Copy, mid: str, reason: str) -> None:
        part = copy.parts.pop(mid, None)
        if part is None or leg.done:
            return
        holder, group = part
        self.failed_holders.add(holder)
        self.agent.record(ev.HOP_REPUBLISHED, task=self.task_id, stage=LOOKUP,
                          attempt=self.sent + 1, reason=reason)
        self._recover(leg, copy, group)
        self._check(leg)

    def _check(self, leg: Leg) -> None:
        """Answer the leg from a copy with all its lookups answered: one that lost no fragment,
        or the most complete once no copy is still waiting."""
        complete = [c for c in leg.copies if not c.parts]
        if leg.done or not complete:
            return
        best = min(complete, key=lambda c: c.missing)
        if best.missing and any(c.parts for c in leg.copies):
            return  # another copy may yet cover what this one lost
        leg.done = True
        for other in leg.copies:  # the first answer wins: let the other copy go
            for mid in other.parts:
                self.agent.hops.cancel(mid, "hedged")
            other.parts.clear()
        self.pending -= 1
        self.hits.extend(best.hits)
        self.missing += best.missing
        self.maybe_reply()

    def _arm_hedge(self, leg: Leg) -> None:
        delay = None if self.agent.hedging is None else self.agent.hedging.delay(LOOKUP)
        if delay is not None:
            self.agent.call_later(delay, partial(self._hedge, leg, delay))

    def _hedge(self, leg: Leg, delay: float) -> None:
        """The leg has waited past the lookups' tail latency: a copy from other holders, if
        they cover every one of its fragments (a copy that could answer less is not sent)."""
        if leg.done or len(leg.copies) > 1:
            return
        first = leg.copies[0]
        plan, lost = self.agent.router.cover(
            leg.fids, exclude=self.failed_holders | leg.busy(), salt=self.task_id)
        if not plan or lost:
            return
        hedged = next(iter(first.parts))
        twin = Copy()
        leg.copies.append(twin)
        for holder, group in plan.items():
            self.agent.record(ev.HOP_HEDGED, task=self.task_id, stage=LOOKUP, mid=hedged,
                              dst=holder, attempt=self.sent + 1, after_ms=round(delay * 1000, 3))
            self._ask(leg, twin, holder, group, retry=False, hedge=True)

    def maybe_reply(self) -> None:
        if self.pending == 0:
            merged = merge_hits(self.hits, self.agent.top_k)
            self.agent.reply(self.request, {"hits": merged, "missing": self.missing}
                             if self.is_lookup else {"output": {"passages": merged},
                                                     "missing": self.missing})
