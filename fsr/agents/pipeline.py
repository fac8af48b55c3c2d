"""The task's multi-hop procedure at its entry agent (`TaskRun`); the search stage's own fan-out
of lookups is `fsr.agents.lookups.SearchRun`.

* `TaskRun` — at the entry agent: drive one task through search → extract → triple → reason,
  each stage a request to a live agent of that role; re-publish a failed hop to another agent
  of the same role (task re-publishing); park the task while no agent of a role is reachable;
  with ``recovery.hedge``, send a stage's copy to another agent once the first has waited past
  the stage's tail latency, and take the first answer (`fsr.agents.hedge`).
"""

from __future__ import annotations

import time
import zlib
from functools import partial
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.agents.hops import Hop
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
