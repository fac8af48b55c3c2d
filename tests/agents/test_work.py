"""Work slots: real threads, a real pipe, a loop that keeps turning while the work waits."""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

from fsr.agents.tools.offline import OfflineBackend
from fsr.agents.work import WorkSlots
from fsr.workload.service import ServiceTime


class Host:
    def __init__(self) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.fds: dict[int, Callable[[], None]] = {}

    def record(self, event: str, **fields: Any) -> None:
        self.events.append((time.monotonic(), event, fields))

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        self.fds[fd] = callback

    def turn(self, timeout: float) -> None:
        ready, _, _ = select.select(list(self.fds), [], [], timeout)
        for fd in ready:
            self.fds[fd]()

    def named(self, name: str) -> list[dict[str, Any]]:
        return [f for _, e, f in self.events if e == name]


def test_slots_bound_the_work_and_queue_the_rest() -> None:
    host = Host()
    slots = WorkSlots(host, OfflineBackend(), ServiceTime("fixed", seconds=0.3), slots=2,
                      llm_concurrency=1)
    finished: list[tuple[str, float]] = []
    start = time.monotonic()
    for i in range(5):
        slots.lookup(f"t{i}", lambda i=i: i * 10, f"k{i}",
                     lambda result, exc, _s, i=i: finished.append((f"t{i}", time.monotonic())))
    # two start at once, three wait, each told how many are ahead of it
    assert [f["task"] for f in host.named("work_start")] == ["t0", "t1"]
    assert [(f["task"], f["ahead"]) for f in host.named("work_queued")] == [
        ("t2", 0), ("t3", 1), ("t4", 2)]
    turns = 0
    while len(finished) < 5 and time.monotonic() - start < 10:
        host.turn(0.05)  # the loop keeps turning: the work does not block it
        turns += 1
    # first come, first served: slots are granted in arrival order
    assert [f["task"] for f in host.named("work_start")] == ["t0", "t1", "t2", "t3", "t4"]
    assert sorted(t for t, _ in finished) == ["t0", "t1", "t2", "t3", "t4"]
    assert turns > 10
    # 5 units of 0.3 s on 2 slots: three rounds, never less than 0.9 s
    assert finished[-1][1] - start >= 0.9
    assert [f["busy"] for f in host.named("work_start")] == [1, 2, 2, 2, 2]
    slots.close()


def test_without_a_service_time_work_runs_inline() -> None:
    host = Host()
    slots = WorkSlots(host, OfflineBackend(), ServiceTime("none"), slots=2, llm_concurrency=1)
    got: list[Any] = []
    slots.lookup("t", lambda: "hits", "k", lambda result, exc, _s: got.append(result))
    assert got == ["hits"] and host.events == [] and not host.fds


def test_a_failing_unit_fails_its_caller_not_the_slots() -> None:
    host = Host()
    slots = WorkSlots(host, OfflineBackend(), ServiceTime("fixed", seconds=0.05), slots=1,
                      llm_concurrency=1)
    got: list[Any] = []

    def boom() -> None:
        raise RuntimeError("tool broke")

    slots.lookup("t1", boom, "k1", lambda result, exc, _s: got.append(exc))
    slots.lookup("t2", lambda: 2, "k2", lambda result, exc, _s: got.append(result))
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        host.turn(0.05)
    assert isinstance(got[0], RuntimeError) and got[1] == 2
    slots.close()
