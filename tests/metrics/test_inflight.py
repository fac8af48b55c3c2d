"""The `inflight` metric, the detection split, duplicate causes and the load: exact figures on
a hand-written log."""

from __future__ import annotations

from typing import Any

from fsr.config import load_config, to_dict
from fsr.metrics import compute_metrics
from fsr.metrics.checkers import duplicate_work
from fsr.metrics.history import build_history
from fsr.metrics.inflight import detection_split, inflight
from fsr.metrics.load import load

CONFIG = to_dict(load_config(None, {"scenario.duration": 20, "scenario.kill_at": 5,
                                    "scenario.agent_count": 3, "workload.slots": 2}))
AGENTS = [{"id": a} for a in ("s1", "s2", "v")]


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": fields.pop("node", "s1"), "event": event, **fields}


def sent(ts: float, node: str, mid: str, task: str, stage: str = "extract",
         dst: str = "v") -> dict[str, Any]:
    return ev(ts, "hop_sent", node=node, dst=dst, kind="stage_request", mid=mid, task=task,
              stage=stage, attempt=1, retry=False)


def failed(ts: float, node: str, mid: str, reason: str, task: str) -> dict[str, Any]:
    return ev(ts, "hop_failed", node=node, dst="v", mid=mid, reason=reason, task=task,
              stage="extract")


def storm_log() -> list[dict[str, Any]]:
    """v is SIGKILLed at 5.0 and back at 8.0. In flight on it at the kill: m1 (let go by a
    closed stream at 5.012, re-published, answered), m2 (held, then let go when the restarted
    v said it never had it, at 8.5), m3 (its reply arrives after the kill), m4 (never let go).
    m0 was answered before the kill; m5 was sent by v itself."""
    return [
        ev(0.0, "run_start", run_id="r", config=CONFIG, agents=AGENTS),
        ev(1.0, "phase", name="broadcast"),
        *(ev(1.0 + i / 10, "task_submit", task=t, qid="q", question="?", gold="x", entry="s1")
          for i, t in enumerate(("t0", "t1", "t2", "t3", "t4", "t5"))),
        sent(2.0, "s1", "m0", "t0"), ev(2.5, "hop_done", node="s1", dst="v", mid="m0"),
        sent(4.0, "s1", "m1", "t1"), sent(4.1, "s2", "m2", "t2"), sent(4.2, "s1", "m3", "t3"),
        sent(4.3, "s2", "m4", "t4"), sent(4.4, "v", "m5", "t5", dst="s1"),
        ev(4.9, "storm_start", storm=0, fault="kill", victims=["v"]),
        ev(5.0, "kill", node="runner", storm=0, victim="v", pid=1, kill_ts=5.0,
           signal="SIGKILL"),
        ev(5.001, "hop_done", node="s1", dst="v", mid="m3"),
        failed(5.012, "s1", "m1", "stream_closed", "t1"),
        ev(5.012, "peer_lost", node="s1", peer="v", how="stream_closed"),
        ev(5.012, "hop_republished", node="s1", task="t1", stage="extract", attempt=2,
           reason="stream_closed"),
        ev(5.02, "hop_held", node="s2", dst="v", mid="m2", how="stream_closed", task="t2"),
        ev(5.02, "peer_lost", node="s2", peer="v", how="stream_closed"),
        ev(5.1, "stage_exec", node="s2", task="t1", stage="extract", attempt=2, src="s1"),
        ev(4.05, "stage_exec", node="v", task="t1", stage="extract", attempt=1, src="s1"),
        ev(6.0, "task_end", task="t1", status="answered", answer="x", by="s1"),
        ev(6.5, "task_end", task="t0", status="answered", answer="x", by="s1"),
        ev(8.0, "agent_started", node="v", pid=2, incarnation="b", roles=["extract"], port=1),
        failed(8.5, "s2", "m2", "lost_by_peer", "t2"),
        ev(9.0, "task_end", task="t2", status="answered", answer="x", by="s1"),
        ev(9.5, "task_end", task="t3", status="answered", answer="y", by="s1"),
        ev(25.0, "task_end", task="t4", status="timed_out", answer="", by="runner"),
        ev(26.0, "run_end", reason="completed"),
    ]


def test_inflight_counts_lets_go_and_fates() -> None:
    f = inflight(build_history(storm_log()))
    assert f["n"] == 4  # m1..m4: not m0 (answered before), not m5 (sent by the victim)
    assert f["let_go_ms"] == {"p50_ms": 12.0, "p95_ms": 3500.0, "max_ms": 3500.0, "n": 2}
    assert f["by_signal"] == {"lost_by_peer": 1, "stream_closed": 1}
    assert f["held"] == 1
    assert f["fates"] == {"answered_by_victim": 1, "lost": 1, "republished_answered": 1,
                          "waited_for_restart": 1}
    # t1..t4 were hit; t0 and t5 were in progress at the kill too, and not hit
    assert f["tasks_hit"] == {"n": 4, "answered": 3, "p50_ms": 7800.0, "p95_ms": 8200.0,
                              "entry_killed": 0}
    assert f["tasks_not_hit"]["n"] == 2 and f["tasks_not_hit"]["answered"] == 1
    hops = {h["fate"]: h for h in f["hops"]}
    assert hops["waited_for_restart"]["held"] and hops["waited_for_restart"]["sender"] == "s2"


def test_no_fault_no_inflight() -> None:
    log = [e for e in storm_log() if e["event"] not in ("kill", "storm_start")]
    f = inflight(build_history(log))
    assert f["n"] == 0 and f["reason"] == "no fault injected"


def test_detection_splits_busy_and_idle_pairs() -> None:
    pairs = [{"observer": "s1", "victim": "v", "ms": 12.0},
             {"observer": "s2", "victim": "v", "ms": 20.0},
             {"observer": "s3", "victim": "v", "ms": 3000.0}]
    split = detection_split(build_history(storm_log()), pairs)
    assert split["busy"] == {"p50_ms": 12.0, "max_ms": 20.0, "n": 2}
    assert split["idle"] == {"p50_ms": 3000.0, "max_ms": 3000.0, "n": 1}


def test_duplicate_work_names_its_cause() -> None:
    d = duplicate_work(build_history(storm_log()))
    assert d["repeated"] == 1 and d["causes"] == {"stream_closed": 1}


def test_load_is_the_slots_busy_share_before_the_fault() -> None:
    log = [*storm_log()[:2],
           ev(1.0, "work_start", node="s1", task="t0", stage="extract", service_ms=0, busy=1),
           ev(3.0, "stage_done", node="s1", task="t0", stage="extract", ok=True, ms=0),
           ev(2.0, "work_start", node="s2", task="t0", stage="lookup", service_ms=0, busy=1),
           ev(4.0, "lookup_done", node="s2", task="t0", src="s1"),
           ev(4.9, "kill", node="runner", storm=0, victim="v", pid=1, kill_ts=5.0,
              signal="SIGKILL")]
    f = load(build_history(log))
    # [t0, fault) = [1, 5): 4 s x 2 slots per agent; s1 busy 2 s, s2 2 s, v 0
    assert f["busiest"] == 0.25 and f["utilisation"] == round((0.25 + 0.25) / 3, 3)


def test_metrics_file_carries_inflight_and_replays_the_same() -> None:
    m = compute_metrics(storm_log())
    assert m["inflight"]["n"] == 4 and "hops" not in m["inflight"]
    assert len(m["details"]["inflight"]["hops"]) == 4
    assert compute_metrics(list(reversed(storm_log()))) == m


def test_a_task_whose_entry_agent_died_is_hit() -> None:
    log = [*storm_log(),
           ev(1.7, "task_submit", task="t6", qid="q", question="?", gold="x", entry="v"),
           ev(25.0, "task_end", task="t6", status="timed_out", answer="", by="runner")]
    f = inflight(build_history(log))
    assert f["n"] == 4  # no hop of its was outstanding: its sender died
    assert f["tasks_hit"]["n"] == 5 and f["tasks_hit"]["entry_killed"] == 1
    assert f["tasks_not_hit"]["n"] == 2


def test_success_rate_drop_counts_the_work_caught_in_flight_after_the_fault() -> None:
    """A task in progress at the strike counts in post, where its fate is decided: splitting by
    submission alone would put it in the baseline."""
    from fsr.metrics.checkers import success_rate_drop

    log = [ev(0.0, "run_start", run_id="r", config=CONFIG, agents=AGENTS),
           ev(1.0, "phase", name="broadcast"),
           ev(1.5, "task_submit", task="a", qid="q", question="?", gold="x", entry="s1"),
           ev(2.0, "task_end", task="a", status="answered", answer="x", by="s1"),
           ev(4.0, "task_submit", task="b", qid="q", question="?", gold="x", entry="s1"),
           ev(5.0, "kill", node="runner", storm=0, victim="v", pid=1, kill_ts=5.0,
              signal="SIGKILL"),
           ev(6.0, "task_submit", task="c", qid="q", question="?", gold="x", entry="s1"),
           ev(7.0, "task_end", task="c", status="answered", answer="x", by="s1"),
           ev(9.0, "task_end", task="b", status="timed_out", answer="", by="runner"),
           ev(30.0, "run_end", reason="completed")]
    d = success_rate_drop(build_history(log))
    assert (d["pre"]["n"], d["pre"]["success_rate"]) == (1, 1.0)
    assert (d["post"]["n"], d["post"]["success_rate"]) == (2, 0.5)
    assert d["value"] == 0.5
