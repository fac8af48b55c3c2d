"""An agent's work slots: every unit of work — a stage's tool call, a lookup — runs here, off the
event loop, so heartbeats and protocol traffic keep flowing while a model thinks (a slow model
must not look like a dead peer).

Three modes, chosen once per agent:
* **inline** — offline tools with no service time (`workload.service_time: none`): the work
  takes microseconds and runs in the caller's stack, as it always did;
* **emulated** — offline tools with a service time (`fsr.workload.service`): `workload.slots`
  threads; a unit of work holds its slot for its drawn service time. That time is the load under
  test, never a figure: the slot logs ``work_start`` when it takes the work and the caller logs
  its end (``stage_done`` / ``lookup_done``); metrics read those;
* **blocking** — an LLM backend (its calls take seconds): stages on `llm.model.concurrency`
  threads, the call itself being the work; lookups stay inline (they are offline BM25).

Slots are granted on the loop, first come first served: work that finds every slot busy waits in
the agent's queue, logged as ``work_queued`` with the number ahead of it, and starts (logged
``work_start``) when a slot frees. A finished unit wakes the loop through a pipe it watches.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from fsr import events as ev
from fsr.agents.tools import ToolResult
from fsr.agents.tools.base import StageBackend
from fsr.workload.service import ServiceTime

# (result, error, seconds the work's own call took — informational, never a metric)
Done = Callable[[Any, BaseException | None, float], None]


class WorkHost(Protocol):
    def record(self, event: str, **fields: Any) -> None: ...

    def watch(self, fd: int, callback: Callable[[], None]) -> None: ...


def call_stage(backend: StageBackend, stage: str, data: dict[str, Any]) -> ToolResult:
    question = data["question"]
    if stage == "extract":
        return backend.extract(question, [p["text"] for p in data.get("passages", [])])
    if stage == "triple":
        return backend.triple(question, data.get("sentence", ""))
    if stage == "reason":
        return backend.reason(question, data.get("sentence", ""), data.get("triple"))
    raise ValueError(f"no tool for stage {stage!r}")


@dataclass
class Unit:
    task: Any
    kind: str  # lookup | extract | triple | reason
    key: str  # seeds the service-time draw (`ServiceTime.draw`)
    call: Callable[[], Any]
    done: Done


class WorkSlots:
    def __init__(self, node: WorkHost, backend: StageBackend, service: ServiceTime,
                 slots: int, llm_concurrency: int) -> None:
        self.node, self.backend, self.service = node, backend, service
        self.blocking = bool(getattr(backend, "blocking", False))
        self.slots = llm_concurrency if self.blocking else slots
        self.pool: ThreadPoolExecutor | None = None
        self.busy = 0
        self.waiting: deque[Unit] = deque()
        if self.blocking or service.emulated:
            self.pool = ThreadPoolExecutor(max_workers=self.slots)
            self.results: queue.SimpleQueue[tuple[Done, Any, Any, float]] = queue.SimpleQueue()
            self.wake_r, self.wake_w = os.pipe()
            os.set_blocking(self.wake_r, False)
            node.watch(self.wake_r, self._drain)

    def stage(self, task: Any, stage: str, data: dict[str, Any], key: str, done: Done) -> None:
        """Run a stage's tool (extract, triple, reason) on `data`."""
        self._submit(Unit(task, stage, key, lambda: call_stage(self.backend, stage, data), done),
                     pooled=self.pool is not None)

    def lookup(self, task: Any, call: Callable[[], Any], key: str, done: Done) -> None:
        """Run a lookup (lookup_fragment over this agent's shard)."""
        self._submit(Unit(task, "lookup", key, call, done), pooled=self.service.emulated
                     and self.pool is not None)

    def _submit(self, unit: Unit, pooled: bool) -> None:
        if not pooled:
            start = time.perf_counter()
            try:
                result = unit.call()
            except Exception as exc:  # a tool failure fails the hop, never the agent
                unit.done(None, exc, time.perf_counter() - start)
                return
            unit.done(result, None, time.perf_counter() - start)
            return
        if self.busy < self.slots:
            self._start(unit)
        else:
            self.waiting.append(unit)
            self.node.record(ev.WORK_QUEUED, task=unit.task, stage=unit.kind,
                             ahead=len(self.waiting) - 1)

    def _start(self, unit: Unit) -> None:
        assert self.pool is not None
        self.busy += 1
        seconds = 0.0 if self.blocking else self.service.draw(unit.kind, unit.key)
        self.node.record(ev.WORK_START, task=unit.task, stage=unit.kind,
                         service_ms=round(seconds * 1000, 3), busy=self.busy)
        self.pool.submit(self._work, unit, seconds)

    def _work(self, unit: Unit, seconds: float) -> None:
        start = time.perf_counter()
        try:
            outcome: tuple[Any, Any] = (unit.call(), None)
        except Exception as exc:
            outcome = (None, exc)
        took = time.perf_counter() - start
        if seconds > took:  # the emulated work: this slot is busy for its service time
            time.sleep(seconds - took)
        self.results.put((unit.done, *outcome, took))
        os.write(self.wake_w, b"x")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 4096)
        while not self.results.empty():
            done, result, exc, seconds = self.results.get()
            self.busy -= 1
            if self.waiting:
                self._start(self.waiting.popleft())
            done(result, exc, seconds)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
