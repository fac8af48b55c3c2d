"""`heartbeat.detector: phi` on real processes: every agent and the runner suspect a stopped
peer at the φ accrual deadline the heartbeat history gives (`fsr.bus.detectors`), never before
the fixed detector would, and only while it is stopped."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import events, fast_config, metrics, run_fsr

INTERVAL = 0.25


def test_phi_suspects_a_paused_peer_after_its_pause_and_only_then(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"fault": "pause", "fault_duration": 3},
                      heartbeat={"detector": "phi"})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs, m = events(out), metrics(out)
    start = next(e for e in evs if e["event"] == "run_start")
    assert start["config"]["heartbeat"]["detector"] == "phi"
    stopped = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "pause"}
    resumed = {e["victim"]: e["ts"] for e in evs if e["event"] == "resume"}
    assert len(stopped) == 2
    # (a paused victim, continued, finds every peer silent for the length of its own stop)
    suspected = [e for e in evs if e["event"] == "peer_suspected" and e["node"] not in stopped]
    # json suspects by heartbeat silence; every survivor (6) and the runner see both victims
    assert {(e["node"], e["peer"]) for e in suspected} >= {
        (n, v) for v in stopped for n in ["runner", *(f"agent_{i}" for i in range(8))]
        if n not in stopped}
    for e in suspected:
        assert e["peer"] in stopped, e  # no false suspicion of a running agent
        assert stopped[e["peer"]] < e["ts"] < resumed[e["peer"]], e
        # φ's deadline: the mean (about one interval) + the pause (3 intervals) + 5.2 x at
        # least 0.1 interval of silence, 1.13 s; the fixed detector suspects at 1.0 s
        # (interval x liveness 4)
        assert e["silent_ms"] / 1000 >= INTERVAL * (1 + 3 + 0.4), e
    assert m["details"]["detection"]["missing"] == []
