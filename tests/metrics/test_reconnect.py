"""The `reconnect` metric (`fsr.metrics.reconnect`): exact figures on a hand-written log, and its
pieces on hand-made inputs."""

from __future__ import annotations

from typing import Any

import pytest

from fsr.config import load_config, to_dict
from fsr.metrics import compute_metrics
from fsr.metrics.history import build_history
from fsr.metrics.reconnect import bucket_excess, in_progress_max, peak_rate, reconnect


def config(mode: str = "batched") -> dict[str, Any]:
    return to_dict(load_config(None, {"scenario.duration": 20, "scenario.kill_at": 5,
                                      "scenario.agent_count": 3, "recovery.reconnect": mode,
                                      "recovery.rate": 2, "recovery.burst": 2}))


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": fields.pop("node", "s1"), "event": event, **fields}


def attempt(ts: float, node: str, peer: str, wait: float | None, done: float | None
            ) -> list[dict[str, Any]]:
    out = [ev(ts, "handshake_start", node=node, peer=peer, sent=True)]
    if wait is not None:
        out.append(ev(ts, "handshake_deferred", node=node, peer=peer, attempt=1, why="backoff",
                      wait=wait))
    if done is not None:
        out.append(ev(done, "handshake_done", node=node, peer=peer, role="r", incarnation="i"))
    return out


def wave_log(mode: str = "batched", mend_last: bool = True) -> list[dict[str, Any]]:
    """s1, s2 survive; v is SIGKILLed at 5.0, restarted at 7.0 (agent_started 7.1). Its pairs
    are mended at 7.2 (v -> s1), 7.3 (s1 -> v), 7.5 (s2 -> v) and 8.4 (v -> s2, after a retry);
    s1 -> s2 is broken by a false suspicion at 6.0 and mended at 6.5."""
    backoff = 1.0 if mode == "batched" else None
    return [
        ev(0.0, "run_start", run_id="r", config=config(mode),
           agents=[{"id": a} for a in ("s1", "s2", "v")]),
        ev(0.1, "agent_started", node="v", pid=1, incarnation="a", roles=["x"], port=1),
        ev(1.0, "phase", name="broadcast"),
        ev(4.9, "storm_start", storm=0, fault="kill", victims=["v"]),
        ev(5.0, "kill", node="runner", storm=0, victim="v", pid=1, kill_ts=5.0,
           signal="SIGKILL"),
        ev(5.9, "peer_lost", node="s1", peer="v", how="heartbeat_timeout"),
        ev(6.0, "peer_lost", node="s1", peer="s2", how="heartbeat_timeout"),
        *attempt(6.4, "s1", "s2", backoff, 6.5),
        ev(7.0, "restart", node="runner", storm=0, victim="v", pid=2),
        ev(7.1, "agent_started", node="v", pid=2, incarnation="b", roles=["x"], port=1),
        ev(7.15, "peer_returned", node="s1", peer="v", how="restarted", incarnation="b"),
        *attempt(7.15, "v", "s1", backoff, 7.2),
        *attempt(7.15, "v", "s2", 0.95 if backoff else None, None),  # unanswered ...
        *attempt(7.25, "s1", "v", backoff, 7.3),
        *attempt(7.4, "s2", "v", backoff, 7.5),
        *attempt(8.1, "v", "s2", backoff, 8.4 if mend_last else None),  # ... asked again
        ev(25.0, "run_end", reason="completed"),
    ]


def test_the_wave_the_mended_mesh_and_the_peak_from_the_log() -> None:
    r = reconnect(build_history(wave_log()))
    assert r["mode"] == "batched"
    assert r["wave_ms"] == 2000.0  # the first restart, 2 s after the kill
    # v's four pairs and the suspected s1 -> s2; the last, v -> s2, mended at 8.4
    assert (r["pairs"], r["missing"], r["last_pair"]) == (5, 0, ["v", "s2"])
    assert r["full_mesh_ms"] == 1400.0 and r["reason"] == "full"
    assert r["attempts"] == 6
    # 7.15 (two), 7.25, 7.4 and 8.1 lie in one second from 7.15
    assert (r["peak_attempts_per_s"], r["peak_at_ms"]) == (5, 2150.0)
    assert r["deferred"] == {"backoff": 6, "admission": 0}
    # v: 7.15-7.2 and 7.15-8.1 overlap; s1, s2: one at a time
    assert r["in_progress_max"] == 2
    # v started 3 attempts in 0.95 s: within 2 + 2 x 0.95; the worst span is 2 at once
    assert r["bucket_excess"] == 0.0


def test_a_pair_never_mended_leaves_the_mesh_unfinished() -> None:
    r = reconnect(build_history(wave_log(mend_last=False)))
    assert (r["full_mesh_ms"], r["missing"], r["reason"]) == (
        None, 1, "pairs still broken at the end")


def test_immediate_logs_have_no_pacing_figures_and_old_logs_read_as_immediate() -> None:
    r = reconnect(build_history(wave_log("immediate")))
    assert r["mode"] == "immediate" and r["full_mesh_ms"] == 1400.0
    assert (r["in_progress_max"], r["bucket_excess"]) == (None, None)
    log = wave_log("immediate")
    del log[0]["config"]["recovery"]  # a log written before the recovery section
    assert reconnect(build_history(log))["mode"] == "immediate"


def test_no_fault_and_no_return() -> None:
    log = [e for e in wave_log() if e["event"] not in ("kill", "storm_start")]
    assert reconnect(build_history(log))["reason"] == "no fault injected"
    log = [e for e in wave_log() if e["event"] != "restart"
           and not (e["event"] == "agent_started" and e["ts"] > 5)]
    r = reconnect(build_history(log))
    assert r["reason"] == "no victim came back" and r["full_mesh_ms"] is None


def test_the_metrics_file_carries_it() -> None:
    assert compute_metrics(wave_log())["reconnect"]["full_mesh_ms"] == 1400.0


def test_peak_rate_is_the_fullest_one_second_window() -> None:
    assert peak_rate([]) == (0, None)
    assert peak_rate([0.0, 0.5, 0.99, 1.0, 1.2, 1.3, 1.4]) == (6, 0.5)
    assert peak_rate([0.0, 1.0, 2.0]) == (1, 0.0)  # [t, t + 1): the next second is its own


@pytest.mark.parametrize(("times", "excess"), [
    ([0.0, 0.0], 0.0),  # the burst at once
    ([0.0, 0.0, 0.0], 1.0),  # one more than the burst
    ([0.0, 0.0, 0.5, 1.0, 1.5], 0.0),  # then one per token (rate 2)
    ([0.0, 0.0, 0.4], pytest.approx(0.2)),  # a token 0.1 s early: 3 in 0.4 s > 2 + 0.8
    ([10.0], -1.0),
])
def test_bucket_excess(times: list[float], excess: float) -> None:
    assert bucket_excess(times, rate=2.0, burst=2) == excess


def test_in_progress_ends_at_the_answer_or_the_wait() -> None:
    log = [*attempt(0.0, "n", "a", 1.0, 0.5), *attempt(0.2, "n", "b", 1.0, None),
           *attempt(0.5, "n", "c", 1.0, None), *attempt(1.2, "n", "d", 1.0, None),
           *attempt(1.5, "m", "a", None, None)]  # no wait logged: not counted
    # a: 0-0.5, b: 0.2-1.2, c: 0.5-1.5, d: 1.2-2.2 -> never more than 2 at once
    assert in_progress_max(log) == {"n": 2}
