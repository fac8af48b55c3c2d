"""The steady state (issue 24): a settling rule that sampling noise cannot decide, its reason,
and the mesh's and the hop latency's own settling — exact figures on hand-written logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fsr.config import load_config, to_dict
from fsr.metrics import compute_metrics
from fsr.metrics.checkers import steady_state as reexported
from fsr.metrics.checkers import wilson
from fsr.metrics.history import build_history
from fsr.metrics.steady import (
    OUTCOMES,
    STEADY_REASONS,
    latency_settled,
    mesh_settled,
    poisson_ci,
    settling_counts,
    settling_outcome,
    steady_state,
    tasks_needed,
)

AGENTS = [{"id": a} for a in ("s1", "s2", "v")]
T0, FAULT, BACK, END = 1.0, 11.0, 16.0, 31.0  # broadcast, kill, restart, end of work


def config(**metrics: Any) -> dict[str, Any]:
    overrides = {"scenario.duration": 30, "scenario.kill_at": 10, "scenario.agent_count": 3}
    overrides.update({f"metrics.{k}": v for k, v in metrics.items()})
    return to_dict(load_config(None, overrides))


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": fields.pop("node", "s1"), "event": event, **fields}


def run_log(answer: Callable[[float], str | None] = lambda end: "x", every: float = 0.2,
            fault: bool = True, extra: list[dict[str, Any]] | None = None,
            **metrics: Any) -> list[dict[str, Any]]:
    """Tasks submitted every `every` s over the 30 s of work, each ending 0.1 s later with
    `answer(end)` ("x" is the gold answer; None: the task fails). v is killed at 11.0 and back
    at 16.0 when `fault`."""
    log = [ev(0.0, "run_start", run_id="r", config=config(**metrics), agents=AGENTS),
           ev(T0, "phase", name="broadcast")]
    n = round((END - T0) / every)
    for i in range(n):
        sub = round(T0 + i * every, 6)
        end = round(sub + 0.1, 6)
        got = answer(end)
        log.append(ev(sub, "task_submit", task=f"t{i}", qid="q", question="?", gold="x",
                      entry="s1"))
        log.append(ev(end, "task_end", task=f"t{i}", by="s1", answer=got or "",
                      status="answered" if got is not None else "failed"))
    if fault:
        log += [ev(FAULT - 0.1, "storm_start", storm=0, fault="kill", victims=["v"]),
                ev(FAULT, "kill", node="runner", storm=0, victim="v", pid=1, kill_ts=FAULT,
                   signal="SIGKILL"),
                ev(BACK, "agent_started", node="v", pid=2, incarnation="b", roles=["extract"],
                   port=1)]
    log += [*(extra or []), ev(END + 1, "phase", name="stop"),
            ev(END + 2, "run_end", reason="completed")]
    return log


def wrong_while_down(end: float) -> str:
    return "y" if FAULT <= end < BACK else "x"


# -- the intervals and the window size ---------------------------------------------------------
def test_poisson_interval_is_garwoods() -> None:
    assert poisson_ci(0)[0] == 0.0 and round(poisson_ci(0)[1], 3) == 3.689
    lo, hi = poisson_ci(10)
    assert (round(lo, 3), round(hi, 3)) == (4.795, 18.39)


def test_tasks_a_window_needs_to_decide() -> None:
    assert (tasks_needed(0.05), tasks_needed(0.1), tasks_needed(0.2)) == (16, 17, 19)
    # from that n on, a window where at most (1 - band)/2 of the expected tasks ended is out
    for band in (0.1, 0.2, 0.5):
        for n in range(tasks_needed(band), 200):
            assert poisson_ci(int((1 - band) * n / 2))[1] < (1 - band) * n


def test_checkers_reexports_the_steady_state() -> None:
    assert reexported is steady_state


# -- the four cases of the issue ---------------------------------------------------------------
def test_every_answer_wrong_until_the_victim_returns_settles_after_its_return() -> None:
    s = steady_state(build_history(run_log(wrong_while_down)))
    assert s["reason"] == "recovered"
    assert s["baseline"] == {"n": 50, "answered": 50, "answered_per_s": 5.0, "success": 1.0,
                             "measure": "correct"}
    assert s["rule"]["tasks_needed"] == 17 and s["window_s"] == 3.4
    assert s["rule"]["detects"] == {"throughput_at_most": 0.412, "success_at_most": 0.706}
    # the windows from 11 to 15 hold wrong answers, [15, 18.4) still 5 of 17; [16, 19.4) none
    assert s["value"] == 5100.0 > (BACK - FAULT) * 1000  # the first end in [16, 19.4)
    assert s["disturbance"]["start_s"] == 0.0 and s["disturbance"]["out_by"] == ["success"]
    assert s["last_out"]["start_s"] == 4.0 and s["last_out"]["success"] == 0.706
    assert (s["windows"], s["in_band"]) == (17, 12)


def test_a_fault_that_touches_nothing_is_not_disturbed() -> None:
    s = steady_state(build_history(run_log()))
    assert (s["value"], s["reason"]) == (0.0, "not_disturbed")
    assert s["disturbance"] is None and s["last_out"] is None
    assert s["mesh_settled_ms"] == 0.0 and s["mesh"]["reason"] == "not_disturbed"


def test_windows_too_small_say_so() -> None:
    # one task a second: 10 before the fault, fewer than the 17 a window needs
    s = steady_state(build_history(run_log(wrong_while_down, every=1.0)))
    assert (s["value"], s["reason"]) == (None, "too_few_tasks")
    assert "10 task(s) answered before the fault" in s["why"]
    # a given window of 2 s at 5 tasks a second holds 10
    s = steady_state(build_history(run_log(wrong_while_down, steady_window=2)))
    assert (s["value"], s["reason"]) == (None, "too_few_tasks")
    assert s["rule"]["expected_tasks"] == 10.0 and "needs 17" in s["why"]


def test_one_or_two_wrong_answers_in_a_16_task_window_do_not_decide_it() -> None:
    # the json/native r1: 14 of 16 correct against a baseline of 1.0, band 0.1
    assert not wilson(14, 16)[1] < 0.9
    # band 0.05: 16 tasks decide; four tasks a second in 4 s windows hold 16. Two wrong answers
    # in the last window (an old 0.875 against 1.0: "never settled")
    def two_wrong(end: float) -> str:
        return "y" if round(end, 1) in (29.6, 30.1) else "x"

    s = steady_state(build_history(run_log(two_wrong, every=0.25, steady_window=4,
                                           steady_band=0.05)))
    assert s["rule"]["expected_tasks"] == 16.0 and s["rule"]["tasks_needed"] == 16
    assert (s["value"], s["reason"]) == (0.0, "not_disturbed")


# -- the other outcomes ------------------------------------------------------------------------
def test_wrong_to_the_end_never_settles() -> None:
    s = steady_state(build_history(run_log(lambda end: "y" if end >= FAULT else "x")))
    assert (s["value"], s["reason"]) == (None, "never_settled")
    assert s["last_out"]["start_s"] == 16.0 and s["in_band"] == 0


def test_a_stall_is_out_by_throughput_and_the_catch_up_is_not() -> None:
    """Nothing ends while v is down; the backlog then ends in a burst at 16.05 (twice the
    rate over the next window): the burst is recovery, not instability."""
    log = run_log(fault=True)
    stalled = []
    for e in log:
        if e["event"] == "task_end" and FAULT <= e["ts"] < BACK:
            e = {**e, "ts": BACK + 0.05}
        stalled.append(e)
    s = steady_state(build_history(stalled))
    assert s["reason"] == "recovered" and s["disturbance"]["out_by"] == ["throughput"]
    # [13, 16.4) holds the burst: in band; [12, 15.4) holds nothing
    assert s["last_out"]["start_s"] == 1.0
    # settled at the burst that made [13, 16.4) in band, not at the window's start
    assert s["value"] == 5050.0


def test_no_task_answered_before_the_fault_is_no_baseline() -> None:
    s = steady_state(build_history(run_log(lambda end: "x" if end >= FAULT else None)))
    assert (s["value"], s["reason"]) == (None, "no_baseline")
    assert s["reason"] in STEADY_REASONS


# -- the survivors' own signals ----------------------------------------------------------------
def mesh_events() -> list[dict[str, Any]]:
    return [
        ev(10.5, "peer_lost", node="s1", peer="v", how="stream_closed"),  # before the kill
        ev(11.3, "peer_lost", node="s1", peer="v", how="stream_closed"),
        ev(11.6, "peer_suspected", node="s2", peer="v", how="heartbeat_timeout", silent_ms=600),
        ev(12.0, "handshake_done", node="s1", peer="s2", role="dialer", incarnation="a"),
        ev(16.2, "handshake_done", node="v", peer="s1", role="dialer", incarnation="b"),
        ev(16.25, "peer_returned", node="s2", peer="v", how="restarted", incarnation="b"),
        ev(END + 1.5, "peer_lost", node="s1", peer="v", how="stream_closed"),  # the stop
    ]


def test_mesh_settles_at_the_last_membership_event_about_a_victim() -> None:
    m = mesh_settled(build_history(run_log(extra=mesh_events())))
    assert (m["value"], m["reason"]) == (5250.0, "settled")
    assert m["last"] == {"event": "peer_returned", "node": "s2", "peer": "v", "t_s": 5.25}
    assert m["events"] == {"peer_lost": 1, "peer_suspected": 1, "peer_returned": 1,
                           "handshake_done": 1}


def wire(slow_from: float, slow_until: float) -> list[dict[str, Any]]:
    """A task message every 0.2 s, delivered 10 ms later — 500 ms when sent in the slow span."""
    out = []
    for i in range(150):
        sent = round(T0 + 0.05 + i * 0.2, 6)
        lat = 0.5 if slow_from <= sent < slow_until else 0.01
        out += [ev(sent, "send", dst="s2", cat="task", kind="stage_request", mid=f"m{i}",
                   wire=100, pay=50, env=30, sec=0),
                ev(round(sent + lat, 6), "deliver", node="s2", src="s1",
                   kind="stage_request", mid=f"m{i}")]
    return out


def test_latency_settles_when_the_window_p50_is_back_in_its_band() -> None:
    h = build_history(run_log(extra=wire(FAULT, BACK)))
    lat = latency_settled(h, 3.4, 1.0)
    assert lat["baseline_p50_ms"] == 10.0 and lat["limit_ms"] == 15.0
    # slow deliveries land in [11.55, 16.45): [15, 18.4) holds 7 slow of 17, its p50 is fast;
    # its first delivery: 15.15
    assert (lat["value"], lat["reason"]) == (4150.0, "recovered")
    assert lat["disturbance"] == {"start_s": 0.0, "p50_ms": 500.0}
    s = steady_state(h)
    assert s["latency_settled_ms"] == 4150.0 and s["value"] == 0.0  # tasks never noticed
    assert latency_settled(build_history(run_log(extra=wire(0, 0))), 3.4, 1.0)["reason"] == \
        "not_disturbed"


# -- the metrics file, replay, and compare -----------------------------------------------------
def test_metrics_file_carries_the_reason_and_is_the_same_from_any_order() -> None:
    log = run_log(wrong_while_down, extra=[*mesh_events(), *wire(FAULT, BACK)])
    m = compute_metrics(log)
    d = m["details"]["steady_state"]
    assert m["steady_state_ms"] == d["value"] == 5100.0 and d["reason"] == "recovered"
    assert (d["mesh_settled_ms"], d["latency_settled_ms"]) == (5250.0, 4150.0)
    assert m["storms"][0]["steady_state_ms"] == 5100.0
    again = compute_metrics(list(reversed(log)))
    assert json.dumps(again, sort_keys=True) == json.dumps(m, sort_keys=True)
    assert settling_outcome(m) == "settled"


def test_settling_outcome_classifies_new_and_old_metrics_files() -> None:
    def file(value: float | None, reason: str | None) -> dict[str, Any]:
        return {"steady_state_ms": value,
                "details": {"steady_state": {} if reason is None else {"reason": reason}}}

    cases = {("recovered", 2000.0): "settled", ("never_settled", None): "not_settled",
             ("not_disturbed", 0.0): "not_disturbed", ("too_few_tasks", None): "too_few_tasks",
             ("no_baseline", None): "no_baseline"}
    for (reason, value), outcome in cases.items():
        assert settling_outcome(file(value, reason)) == outcome
    # before the reason codes: a number, or a sentence
    assert settling_outcome(file(0.0, None)) == "settled"
    assert settling_outcome(file(None, "the last window is out of band: the system never "
                                       "settled before the end")) == "not_settled"
    assert settling_outcome(file(None, "no full window fits between the fault and the end")) \
        == "too_few_tasks"
    assert settling_outcome(file(None, "no task ended before the fault")) == "no_baseline"
    assert settling_outcome({}) == "unknown"
    counts = settling_counts([file(1.0, "recovered"), file(0.0, "not_disturbed"),
                              file(None, "never_settled"), file(3.0, "recovered")])
    assert list(counts) == list(OUTCOMES)
    assert counts == {"settled": 2, "not_settled": 1, "not_disturbed": 1, "too_few_tasks": 0,
                      "no_baseline": 0, "unknown": 0}
