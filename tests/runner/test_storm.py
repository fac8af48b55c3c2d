"""The fail storm on real processes: SIGKILLed PIDs, detections, rejoin, metrics from the log."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from fsr.workload.grading import exact_match
from tests.helpers import (
    check_storm_figures,
    events,
    fast_config,
    log_path,
    metrics,
    pid_alive,
    run_fsr,
    start_fsr,
    wait_for_event,
)

INTERVAL, LIVENESS = 0.25, 4


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, bool]]:
    tmp = tmp_path_factory.mktemp("storm")
    out = tmp / "run"
    proc = start_fsr("run", "--config", str(fast_config(tmp)), "--agent-count", "8",
                     "--kill-fraction", "0.3", "--out", str(out))
    # Watch the live log: each victim's PID must be alive before the storm and gone after it.
    started = wait_for_event(out, lambda e: e["event"] == "mesh_ready")
    assert started["agents"] == 8
    alive_before = {e["pid"]: pid_alive(e["pid"]) for e in events(out)
                    if e["event"] == "agent_started"}
    # before the storm: one live process per agent (round(0.3 x 8) = 2 of them are to die)
    assert len(alive_before) == 8 and all(alive_before.values()), alive_before
    kill = wait_for_event(out, lambda e: e["event"] == "kill", timeout=60)
    wait_for_event(out, lambda e: e["event"] == "kill" and e["victim"] != kill["victim"], 10)
    gone = {e["pid"]: not pid_alive(e["pid"]) for e in events(out) if e["event"] == "kill"}
    assert all(alive_before[pid] for pid in gone)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return out, gone


def test_victims_really_killed(storm: tuple[Path, dict[int, bool]]) -> None:
    out, gone = storm
    kills = [e for e in events(out) if e["event"] == "kill"]
    assert len(kills) == 2 and len({k["victim"] for k in kills}) == 2
    assert len(gone) == 2 and all(gone.values())
    # the storm strikes at once: every victim signalled before any is reaped
    spread = [e for e in events(out) if e["event"] == "strike_spread"]
    first, last = min(k["kill_ts"] for k in kills), max(k["kill_ts"] for k in kills)
    assert len(spread) == 1 and abs(spread[0]["ms"] - (last - first) * 1000) < 0.01
    assert spread[0]["ms"] < 50


def test_every_survivor_detects_every_victim_in_time(storm: tuple[Path, dict]) -> None:
    out, _ = storm
    evs = events(out)
    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    agents = {e["node"] for e in evs if e["event"] == "agent_started"}
    survivors = agents - set(kills)
    bound = INTERVAL * LIVENESS + 1.5  # the deadline, and slack for a loaded machine
    for victim, kill_ts in kills.items():
        for observer in survivors:
            hits = [e for e in evs if e["event"] == "peer_suspected" and e["node"] == observer
                    and e["peer"] == victim and e["ts"] >= kill_ts]
            assert hits, f"{observer} never detected {victim}"
            assert hits[0]["ts"] - kill_ts <= bound, (observer, victim, hits[0]["ts"] - kill_ts)


def test_victims_rejoin_and_work_goes_on(storm: tuple[Path, dict]) -> None:
    out, _ = storm
    evs = events(out)
    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    fault = min(kills.values())
    for victim in kills:
        restarted = [e for e in evs if e["event"] == "agent_started" and e["node"] == victim
                     and e["ts"] > fault]
        assert restarted, f"{victim} was not restarted"
        survivor_side = [e for e in evs if e["event"] == "handshake_done"
                         and e["peer"] == victim and e["ts"] > fault]
        victim_side = [e for e in evs if e["event"] == "handshake_done"
                       and e["node"] == victim and e["ts"] > fault]
        assert survivor_side and victim_side
    gold = {e["task"]: e["gold"] for e in evs if e["event"] == "task_submit"}
    after = [e for e in evs if e["event"] == "task_end" and e["ts"] > fault + 1
             and e["status"] == "answered" and exact_match(e["answer"], gold[e["task"]])]
    assert len(after) >= 10


def test_all_metrics_measured_and_recomputed_from_events(storm: tuple[Path, dict]) -> None:
    out, _ = storm
    evs = events(out)
    m = metrics(out)
    for key in ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
                "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m[key], m["details"])
    check_storm_figures(evs, m, duration=14)
    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    fault = min(kills.values())

    # recovery: the survivors' first recovery message after the fault (re-published hop,
    # re-attach, or a handshake on the wire) — their reaction, well before the restart (3 s)
    first = next(e for e in evs if e["ts"] > fault and e["node"] not in kills and (
        (e["event"] == "hop_sent" and e.get("retry")) or e["event"] == "reattach"
        or (e["event"] == "handshake_start" and e.get("sent"))))
    assert m["recovery_ms"] == round((first["ts"] - fault) * 1000, 3)
    back = min(e["ts"] for e in evs if e["event"] == "agent_started" and e["node"] in kills
               and e["ts"] > fault)
    assert first["ts"] < back  # before any victim is back: the log's order, not a 3 s clock

    # bytes_reconnect: every wire byte logged in [fault, fault + 5 s]
    wire = sum(e["wire"] for e in evs if e["event"] in ("send", "hb_tally", "zmtp_connect")
               and fault <= e["ts"] <= fault + 5)
    assert m["bytes_reconnect"] == wire > 0

    # success_rate_drop over tasks submitted before / after the fault
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "broadcast")
    gold = {e["task"]: (e["ts"], e["gold"]) for e in evs if e["event"] == "task_submit"}
    ok = {e["task"]: e["status"] == "answered" and exact_match(e["answer"], gold[e["task"]][1])
          for e in evs if e["event"] == "task_end"}
    pre = [ok[t] for t, (ts, _) in gold.items() if t0 <= ts < fault]
    post = [ok[t] for t, (ts, _) in gold.items() if fault <= ts < t0 + 14]
    rate_pre, rate_post = round(sum(pre) / len(pre), 3), round(sum(post) / len(post), 3)
    assert m["success_rate_drop"] == round((rate_pre - rate_post) / rate_pre, 3)

    # duplicate_work_ratio over (task, stage) executions
    execs = [(e["task"], e["stage"]) for e in evs if e["event"] == "stage_exec"]
    assert m["duplicate_work_ratio"] == round((len(execs) - len(set(execs))) / len(execs), 3)

    # detection: per (observer, victim) first suspicion after the kill
    det = m["details"]["detection"]
    assert det["missing"] == []
    values = sorted(p["ms"] for p in det["pairs"])
    assert len(values) == 2 * 6
    # json's design: a victim is let go by its silence (interval x liveness) or sooner, by a
    # refused send; 1.5 s of margin for a loaded machine
    assert values[0] > 0 and values[-1] <= (INTERVAL * LIVENESS + 1.5) * 1000, values
    assert m["detection_ms"]["max_ms"] == values[-1]
    assert statistics.median_low(values) == m["detection_ms"]["p50_ms"]

    # steady state: a number, inside the post-fault period
    assert 0 <= m["steady_state_ms"] <= 8000


def test_replay_is_byte_identical(storm: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = storm
    replayed = tmp_path / "replayed.json"
    proc = run_fsr("replay", str(log_path(out)), "--out", str(replayed))
    assert proc.returncode == 0, proc.stderr
    assert replayed.read_bytes() == (out / "failstorm_metrics.json").read_bytes()


def test_replay_of_a_truncated_log_is_partial(storm: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = storm
    data = log_path(out).read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: int(len(data) * 0.7)])  # mid-run, mid-line
    proc = run_fsr("replay", str(cut))
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert m["partial"] is True
    assert m["tasks"]["submitted"] > 0


def test_no_frame_dropped_in_a_kill_storm(storm: tuple[Path, dict]) -> None:
    # A SIGKILL cuts connections cleanly; nothing on the wire is malformed, so nothing is
    # dropped. (Late replies can happen — a hop re-published on suspicion whose first answer
    # still arrives — and are counted as stale_reply; they need a victim to explain them.)
    evs = events(storm[0])
    assert [e for e in evs if e["event"] == "frame_dropped"] == []
    victims = {e["victim"] for e in evs if e["event"] == "kill"}
    assert all(e["src"] in victims for e in evs if e["event"] == "stale_reply")
