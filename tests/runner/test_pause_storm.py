"""`--fault pause`: the storm SIGSTOPs its victims (they keep their TCP connections open) and
SIGCONTs them after `fault_duration`. Seen on real processes: the victims are stopped, then
running; json's heartbeat design finds them; they rejoin without a new process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.helpers import events, fast_config, metrics, start_fsr, wait_for_event

INTERVAL, LIVENESS = 0.25, 4


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]


def test_pause_storm_stops_then_continues_the_victims(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"fault": "pause", "fault_duration": 3})
    out = tmp_path / "run"
    proc = start_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    paused = wait_for_event(out, lambda e: e["event"] == "pause")
    wait_for_event(out, lambda e: e["event"] == "pause" and e["victim"] != paused["victim"], 10)
    pids = [e["pid"] for e in events(out) if e["event"] == "pause"]
    assert [state(p) for p in pids] == ["T", "T"]  # stopped, not dead
    wait_for_event(out, lambda e: e["event"] == "resume" and e["victim"] == paused["victim"], 10)
    assert all(state(p) in "RS" for p in pids)  # running again: the same processes
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    evs, m = events(out), metrics(out)
    assert m["fault"]["kind"] == "pause" and m["fault"]["victims"] == ["agent_2", "agent_4"]
    # no new process: each agent started once
    assert set(Counter(e["node"] for e in evs if e["event"] == "agent_started").values()) == {1}
    # json's design finds a hung peer by its silence: interval x liveness
    det = m["details"]["detection"]
    assert det["missing"] == [] and det["n"] == 12
    assert {p["how"] for p in det["pairs"]} == {"heartbeat_timeout"}
    # not before the deadline (the last heartbeat came at most one interval before the stop),
    # and from the log rather than the clock: every detection while its victim was stopped
    stopped = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "pause"}
    resumed = {e["victim"]: e["ts"] for e in evs if e["event"] == "resume"}
    assert m["detection_ms"]["p50_ms"] / 1000 >= INTERVAL * (LIVENESS - 1)
    assert all(stopped[p["victim"]] + p["ms"] / 1000 < resumed[p["victim"]]
               for p in det["pairs"]), (det["pairs"], stopped, resumed)
    # they come back by SIGCONT and handshake again: rejoin from the resume, before work ends
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "broadcast")
    assert m["rejoin_ms"]["n"] == 2
    assert max(resumed.values()) + m["rejoin_ms"]["max_ms"] / 1000 < t0 + 14
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}
    # no task enters at a stopped agent; a resumed one (its shard kept) is an entry agent again
    victims = set(m["fault"]["victims"])
    paused_at = min(e["ts"] for e in evs if e["event"] == "pause")
    resumed_at = max(e["ts"] for e in evs if e["event"] == "resume")
    entries = [(e["ts"], e["entry"]) for e in evs if e["event"] == "task_submit"]
    assert not [a for ts, a in entries if paused_at < ts < resumed_at and a in victims]
    assert {a for ts, a in entries if ts > resumed_at} >= victims
