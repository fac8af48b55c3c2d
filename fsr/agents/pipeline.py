"""The two multi-hop procedures an agent runs.

* `TaskRun` — at the entry agent: drive one task through search → extract → triple → reason,
  each stage a request to a live agent of that role; re-publish a failed hop to another agent
  of the same role (task re-publishing); park the task while no agent of a role is reachable;
  with ``recovery.hedge``, send a stage's copy to another agent once the first has waited past
  the stage's tail latency, and take the first answer (`fsr.agents.hedge`).
* `SearchRun` — at a search agent: fan `lookup` (lookup_fragment) out to live holders covering
  every fragment, re-cover the fragments of a failed holder from other replicas, merge the hits.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.agents.hops import Hop
from fsr.agents.tools import merge_hits
from fsr.protocols import Message, kinds
from fsr.workload.roles import STAGES

if TYPE_CHECKING:
    from fsr.agents.contracts import PipelineHost


class TaskRun:
    def __init__(self, agent: PipelineHost, task_id: str, question: str) -> None:
        self.agent, self.task_id, self.question = agent, task_id, question
        self.stage_index = 0
        self.attempt = 0
        self.tried: set[str] = set()
        self.state: dict[str, Any] = {"question": question}
        self.parked = False
        self.done = False
        self.outstanding: dict[str, float] = {}  # the stage's hops in flight: mid -> sent at

    @property
    def stage(self) -> str:
        return STAGES[self.stage_index]

    def advance(self) -> None:
        """Send the current stage to a live agent of its role, or park until one is reachable."""
        candidates = self.agent.router.executors(self.stage)
        fresh = [c for c in candidates if c not in self.tried] or candidates
        if not fresh:
            if not self.parked:
                self.agent.record(ev.TASK_PARKED, task=self.task_id, stage=self.stage)
            self.parked = True
            return
        self.parked = False
        self._send(fresh[zlib.crc32(f"{self.task_id}/{self.attempt}".encode()) % len(fresh)])

    def _send(self, dest: str, hedge: bool = False) -> None:
        self.attempt += 1
        self.tried.add(dest)
        body = {"task_id": self.task_id, "stage": self.stage, "attempt": self.attempt,
                "input": self.state}
        meta: dict[str, Any] = {"task": self.task_id, "stage": self.stage,
                                "attempt": self.attempt, "retry": self.attempt > 1 and not hedge}
        if hedge:
            meta["hedge"] = True
        msg = Message(kinds.STAGE_REQUEST, body)
        self.outstanding[msg.msg_id] = time.time()  # the hedge's clock, never a figure
        self.agent.hops.send(Hop(dest, msg, self.on_reply, partial(self._failed, msg.msg_id),
                                 meta))
        delay = None if hedge or self.agent.hedging is None else \
            self.agent.hedging.delay(self.stage)
        if delay is not None:
            self.agent.call_later(delay, partial(self._hedge, msg.msg_id, self.stage_index,
                                                 delay))

    def _hedge(self, mid: str, stage_index: int, delay: float) -> None:
        """The hop has waited past the stage's tail latency: a copy to another agent."""
        if self.done or stage_index != self.stage_index or set(self.outstanding) != {mid}:
            return  # answered, failed, or already hedged
        others = [c for c in self.agent.router.executors(self.stage) if c not in self.tried]
        if not others:
            return
        dest = others[zlib.crc32(f"{self.task_id}/{self.attempt}".encode()) % len(others)]
        self.agent.record(ev.HOP_HEDGED, task=self.task_id, stage=self.stage, mid=mid, dst=dest,
                          attempt=self.attempt + 1, after_ms=round(delay * 1000, 3))
        self._send(dest, hedge=True)

    def on_reply(self, msg: Message) -> None:
        sent = self.outstanding.pop(msg.reply_to or "", None)
        if self.done or sent is None:  # a late reply to a task already abandoned must not
            return                     # restart it
        if "error" in msg.body:
            self._settle_failure("tool_error")
            return
        if self.agent.hedging is not None:
            self.agent.hedging.observe(self.stage, time.time() - sent)
        for twin in list(self.outstanding):  # the first answer wins: forget the other copy
            self.agent.hops.cancel(twin, "hedged")
        self.outstanding.clear()
        self.state.update(msg.body.get("output", {}))
        self.stage_index += 1
        self.attempt, self.tried = 0, set()
        if self.stage_index == len(STAGES):
            self.finish("answered", str(self.state.get("answer", "")))
        else:
            self.advance()

    def _failed(self, mid: str, reason: str) -> None:
        if self.outstanding.pop(mid, None) is not None:
            self._settle_failure(reason)

    def _settle_failure(self, reason: str) -> None:
        """A hop of the stage failed: re-publish — unless its hedged twin may still answer."""
        if self.done or self.outstanding:
            return
        if self.attempt >= self.agent.max_attempts:
            self.finish("failed", "", reason=f"{self.stage}: {reason}")
            return
        self.agent.record(ev.HOP_REPUBLISHED, task=self.task_id, stage=self.stage,
                          attempt=self.attempt + 1, reason=reason)
        self.advance()

    def finish(self, status: str, answer: str, reason: str = "") -> None:
        self.done = True
        self.agent.task_finished(self, status, answer, reason)


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
        self.hits: list[list[dict[str, Any]]] = []
        self.pending = 0
        self.missing = 0
        self.failed_holders: set[str] = set()
        self.sent = 0

    def start(self) -> None:
        assert self.agent.shard is not None  # a search starts only once the shard is in
        own, rest = self.agent.shard.split(self.fids)
        if own:
            self.pending += 1  # before the cover, so no reply leaves while this one works
        self.cover(rest)
        if own:
            self.agent.server.lookup_local(self.task_id, self.question, own, self._own_hits)
        else:
            self.maybe_reply()

    def _own_hits(self, hits: list[dict[str, Any]]) -> None:
        self.pending -= 1
        self.hits.insert(0, hits)  # this agent's own hits first, as they always were
        self.maybe_reply()

    def cover(self, fids: list[str], retry: bool = False) -> None:
        """Send lookups to live holders so that each fragment in `fids` is asked of one holder."""
        plan, lost = self.agent.router.cover(fids, exclude=self.failed_holders,
                                             salt=self.task_id)
        self.missing += len(lost)
        for holder, group in plan.items():
            self.pending += 1
            self.sent += 1
            body = {"task_id": self.task_id, "question": self.question, "fids": group,
                    "k": self.agent.top_k}
            meta = {"task": self.task_id, "stage": "lookup", "attempt": self.sent,
                    "retry": retry}
            if self.is_lookup:  # a relay's leg of a lookup it was passed
                meta["relay"] = True
                self.agent.record(ev.HOP_RELAYED, task=self.task_id, kind="lookup",
                                  stage="lookup", src=self.request.sender, dst=holder,
                                  mid=self.request.msg_id)
            on_reply, on_fail = self._handlers(holder, group)
            self.agent.hops.send(Hop(holder, Message(kinds.LOOKUP, body), on_reply, on_fail, meta))

    def _handlers(self, holder: str, group: list[str]
                  ) -> tuple[Callable[[Message], None], Callable[[str], None]]:
        def on_reply(msg: Message) -> None:
            if "error" in msg.body:
                on_fail("tool_error")
                return
            self.pending -= 1
            self.hits.append(msg.body.get("hits", []))
            self.missing += msg.body.get("missing") or 0  # lost beyond a relay
            self.maybe_reply()

        def on_fail(reason: str) -> None:
            self.pending -= 1
            self.failed_holders.add(holder)
            self.agent.record(ev.HOP_REPUBLISHED, task=self.task_id, stage="lookup",
                              attempt=self.sent + 1, reason=reason)
            self.cover(group, retry=True)
            self.maybe_reply()

        return on_reply, on_fail

    def maybe_reply(self) -> None:
        if self.pending == 0:
            merged = merge_hits(self.hits, self.agent.top_k)
            self.agent.reply(self.request, {"hits": merged, "missing": self.missing}
                             if self.is_lookup else {"output": {"passages": merged},
                                                     "missing": self.missing})
