"""Runs an agent's tool without stalling its event loop.

Offline tools take microseconds and run inline. Blocking backends (LLM calls take seconds) run on
a small thread pool; a finished call wakes the loop through a pipe registered with its poller, so
heartbeats keep flowing while a model thinks — otherwise a slow model would look like a dead peer.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fsr.agents.tools import ToolResult
from fsr.agents.tools.base import StageBackend

if TYPE_CHECKING:
    from fsr.agents.contracts import WatchHost

Done = Callable[[ToolResult | None, BaseException | None, float], None]


def call_stage(backend: StageBackend, stage: str, data: dict[str, Any]) -> ToolResult:
    question = data["question"]
    if stage == "extract":
        return backend.extract(question, [p["text"] for p in data.get("passages", [])])
    if stage == "triple":
        return backend.triple(question, data.get("sentence", ""))
    if stage == "reason":
        return backend.reason(question, data.get("sentence", ""), data.get("triple"))
    raise ValueError(f"no tool for stage {stage!r}")


class ToolRunner:
    def __init__(self, backend: StageBackend, node: WatchHost, workers: int) -> None:
        self.backend = backend
        self.pool: ThreadPoolExecutor | None = None
        if getattr(backend, "blocking", False):
            self.pool = ThreadPoolExecutor(max_workers=workers)
            self.results: queue.SimpleQueue[tuple[Done, Any, Any, float]] = queue.SimpleQueue()
            self.wake_r, self.wake_w = os.pipe()
            os.set_blocking(self.wake_r, False)
            node.watch(self.wake_r, self._drain)

    def run(self, stage: str, data: dict[str, Any], done: Done) -> None:
        if self.pool is None:
            start = time.perf_counter()
            try:
                result = call_stage(self.backend, stage, data)
            except Exception as exc:  # a tool failure fails the hop, never the agent
                done(None, exc, time.perf_counter() - start)
                return
            done(result, None, time.perf_counter() - start)
            return
        self.pool.submit(self._work, stage, data, done)

    def _work(self, stage: str, data: dict[str, Any], done: Done) -> None:
        start = time.perf_counter()
        try:
            outcome: tuple[Any, Any] = (call_stage(self.backend, stage, data), None)
        except Exception as exc:
            outcome = (None, exc)
        self.results.put((done, *outcome, time.perf_counter() - start))
        os.write(self.wake_w, b"x")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 4096)
        while not self.results.empty():
            done, result, exc, seconds = self.results.get()
            done(result, exc, seconds)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
