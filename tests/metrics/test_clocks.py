"""A cluster run's clocks (`fsr.metrics.clocks`): every agent event put on the runner's clock by
its host's start offset, in file order and in time order; the clocks' summary and the
uncertainty the cross-host figures carry; a local log unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from fsr import events as ev
from fsr.metrics import compute_metrics, log_metrics
from fsr.metrics.clocks import clock_summary, corrected
from fsr.metrics.history import build_history
from tests.metrics.test_inflight import CONFIG, storm_log

# s1 runs on host "a", whose clock is 200 ms ahead of the runner's; s2 and the victim v on "b"
HOSTS = {"s1": "a", "s2": "b", "v": "b"}
AHEAD = {"a": 0.2, "b": -0.003}  # host clock - runner clock, s


def runner(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": "runner", "event": event, **fields}


def agent(true_ts: float, node: str, event: str, clocks: dict[str, float],
          **fields: Any) -> dict[str, Any]:
    """An agent's event at `true_ts` on the runner's clock, stamped by its host's clock."""
    return {"ts": round(true_ts + clocks[HOSTS[node]], 6), "node": node, "event": event,
            **fields}


def offset(host: str, phase: str, offset_ms: float, error_ms: float) -> dict[str, Any]:
    return runner(0.001 if phase == "start" else 30.0, ev.CLOCK_OFFSET, host=host, phase=phase,
                  offset_ms=offset_ms, error_ms=error_ms, rtt_ms=2 * error_ms, samples=8)


def cluster_log(clocks: dict[str, float] = AHEAD,
                offsets: bool = True) -> list[dict[str, Any]]:
    """In file order: v is SIGKILLed at 5.0 (runner's clock) with s1's hop m1 in flight on it.
    s1 lets it go and loses v at 5.05, re-publishes it to s2 at 5.06 (its recovery action); s2
    loses v at 5.08. On the runner's clock: detection 50 and 80 ms, let-go 50, recovery 60.
    A third host, c, is lost while the clocks are measured."""
    def a(true_ts: float, node: str, event: str, **fields: Any) -> dict[str, Any]:
        return agent(true_ts, node, event, clocks, **fields)

    ms = {h: round(c * 1000, 3) for h, c in clocks.items()}
    measured = [offset("a", "start", ms["a"], 0.4), offset("b", "start", ms["b"], 0.5)]
    # a's clock gains 0.9 ms over the run, b's loses 0.5
    drifted = [offset("a", "end", ms["a"] + 0.9, 0.3), offset("b", "end", ms["b"] - 0.5, 0.6)]
    return [
        runner(0.0, ev.RUN_START, run_id="r", config=CONFIG,
               agents=[{"id": n, "host": h} for n, h in HOSTS.items()],
               cluster={"engine": "ray", "address": "x", "hosts": {}}),
        *(measured[:1] if offsets else []),
        runner(0.002, ev.HOST_LOST, host="c", agents=[], reason="no answer"),
        *(measured[1:] if offsets else []),
        runner(0.005, ev.PHASE, name="startup"),
        *(runner(0.01, ev.AGENT_SPAWNED, agent=n, pid=i) for i, n in enumerate(HOSTS)),
        *(a(0.5, n, ev.AGENT_STARTED, pid=i, incarnation=n, roles=["extract"], port=i,
            host=HOSTS[n]) for i, n in enumerate(HOSTS)),
        runner(1.0, ev.PHASE, name="broadcast"),
        runner(1.0, ev.TASK_SUBMIT, task="t1", qid="q", question="?", gold="x", entry="s1"),
        a(4.0, "s1", ev.HOP_SENT, dst="v", kind="stage_request", mid="m1", task="t1",
          stage="extract", attempt=1, retry=False),
        runner(4.9, ev.STORM_START, storm=0, fault="kill", victims=["v"]),
        runner(5.0, ev.KILL, storm=0, victim="v", pid=2, kill_ts=5.0, signal="SIGKILL",
               host="b"),
        a(5.05, "s1", ev.HOP_FAILED, dst="v", mid="m1", reason="stream_closed", task="t1",
          stage="extract"),
        a(5.05, "s1", ev.PEER_LOST, peer="v", how="stream_closed"),
        a(5.06, "s1", ev.HOP_SENT, dst="s2", kind="stage_request", mid="m2", task="t1",
          stage="extract", attempt=2, retry=True),
        a(5.08, "s2", ev.PEER_LOST, peer="v", how="heartbeat_timeout"),
        a(5.1, "s2", ev.STAGE_EXEC, task="t1", stage="extract", attempt=2, src="s1"),
        runner(6.0, ev.TASK_END, task="t1", status="answered", answer="x", by="s1"),
        runner(25.0, ev.RUN_END, reason="completed"),
        *(drifted if offsets else []),
    ]


def figures(m: dict[str, Any]) -> tuple[Any, ...]:
    det = {(p["observer"], p["victim"]): p["ms"] for p in m["details"]["detection"]["pairs"]}
    return det, m["recovery_ms"], m["inflight"]["let_go_ms"]["max_ms"]


def test_the_cross_host_figures_are_right_only_with_the_correction() -> None:
    right = ({("s1", "v"): 50.0, ("s2", "v"): 80.0}, 60.0, 50.0)
    assert figures(compute_metrics(cluster_log())) == right
    # the same run read on the hosts' own clocks: s1's figures 200 ms late, s2's 3 ms early
    raw = compute_metrics(build_history(cluster_log()))
    assert figures(raw) == ({("s1", "v"): 250.0, ("s2", "v"): 77.0}, 260.0, 250.0)


def test_file_order_time_order_and_the_log_file_agree(tmp_path: Path) -> None:
    log = cluster_log()
    by_time = sorted(log, key=lambda e: e["ts"])
    assert by_time != log  # s1's events sort among the runner's later ones
    path = tmp_path / "fail_storm_r.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in log))
    _, streamed, _ = log_metrics(path)
    assert compute_metrics(log) == compute_metrics(by_time) == streamed


def test_a_host_clock_far_behind_sorts_before_the_offsets_and_is_still_corrected() -> None:
    # 2 s behind: in time order, every agent_started of host b comes before run_start itself
    log = cluster_log({"a": 0.2, "b": -2.0})
    by_time = sorted(log, key=lambda e: e["ts"])
    assert by_time[0]["event"] == ev.AGENT_STARTED
    assert [e["ts"] for e in corrected(by_time)] != [e["ts"] for e in by_time]
    assert figures(compute_metrics(by_time)) == figures(compute_metrics(log)) == (
        {("s1", "v"): 50.0, ("s2", "v"): 80.0}, 60.0, 50.0)


def test_corrected_shifts_agent_times_only() -> None:
    log = cluster_log()
    out = list(corrected(log))
    assert len(out) == len(log)
    for before, after in zip(log, out, strict=True):
        if before["node"] == "runner":
            assert after is before
        else:
            assert after["ts"] == round(before["ts"] - AHEAD[HOSTS[before["node"]]], 6)
            assert {**after, "ts": before["ts"]} == before  # a copy: the input is left as it was
    # an agent whose host has no start offset keeps its host's time
    no_b = [e for e in log if not (e["event"] == ev.CLOCK_OFFSET and e["host"] == "b")]
    assert all(after is before for before, after in zip(no_b, corrected(no_b), strict=True)
               if before["node"] in ("s2", "v"))


def test_the_summary_and_the_uncertainty_next_to_the_cross_host_figures() -> None:
    m = compute_metrics(cluster_log())
    # drift: a 200.9 - 200 = 0.9, b -3.5 - -3 = -0.5; uncertainty: max(0.4 + 0.9, 0.5 + 0.5)
    assert m["details"]["clock"] == {
        "hosts": {"a": {"offset_ms": 200.0, "error_ms": 0.4, "drift_ms": 0.9},
                  "b": {"offset_ms": -3.0, "error_ms": 0.5, "drift_ms": -0.5}},
        "uncertainty_ms": 1.3}
    for figure in ("detection", "recovery", "inflight"):
        assert m["details"][figure]["clock_uncertainty_ms"] == 1.3, figure


def test_a_host_without_an_end_offset_counts_its_start_error_alone() -> None:
    log = [e for e in cluster_log() if e["event"] != ev.CLOCK_OFFSET or e["host"] != "a"
           or e["phase"] != "end"]
    clock = clock_summary(build_history(corrected(log)))
    assert clock is not None and clock["hosts"]["a"]["drift_ms"] is None
    assert clock["uncertainty_ms"] == 1.0  # b's 0.5 + 0.5 now; a's 0.4 alone


def test_a_start_offset_after_the_startup_phase_is_neither_applied_nor_reported() -> None:
    log = cluster_log()
    late = next(e for e in log if e["event"] == ev.CLOCK_OFFSET and e["host"] == "a")
    log.remove(late)
    spawned = [i for i, e in enumerate(log) if e["event"] == ev.AGENT_SPAWNED]
    log.insert(spawned[-1] + 1, {**late, "ts": 0.02})  # a's measured after the agents spawned
    assert [e["ts"] for e in corrected(log) if e["node"] == "s1"] == \
        [e["ts"] for e in log if e["node"] == "s1"]
    clock = clock_summary(build_history(corrected(log)))
    assert clock is not None and clock["hosts"]["a"]["offset_ms"] is None


def test_a_host_with_no_start_offset_leaves_the_uncertainty_unknown() -> None:
    log = [e for e in cluster_log() if e["event"] != ev.CLOCK_OFFSET or e["host"] != "a"
           or e["phase"] != "start"]
    clock = clock_summary(build_history(corrected(log)))
    assert clock is not None and clock["uncertainty_ms"] is None
    assert clock["hosts"]["a"] == {"offset_ms": None, "error_ms": None, "drift_ms": None}


@pytest.mark.parametrize("log", [storm_log(), cluster_log(offsets=False)],
                         ids=["local", "cluster without offsets"])
def test_a_log_without_offsets_is_unchanged(log: list[dict[str, Any]]) -> None:
    assert all(a is b for a, b in zip(corrected(log), log, strict=True))
    m = compute_metrics(log)
    assert m == compute_metrics(build_history(log))  # the metrics without the wrapper
    assert "clock" not in m["details"]
    assert not any("clock_uncertainty_ms" in d for d in m["details"].values())
