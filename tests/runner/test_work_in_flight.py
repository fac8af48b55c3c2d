"""A storm that strikes agents at work: stages take a service time, so requests are open on
the victims when they die, and `inflight` says what became of each — by the protocol's own
signal. Real processes, real SIGKILLs; the figures come from the log, and replay agrees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import events, fast_config, log_path, metrics, run_fsr

WORK = {"service_time": {"dist": "lognormal", "median": 0.5, "p95": 0.8}, "slots": 8}


@pytest.mark.parametrize("protocol", ["json", "a2a"])
def test_the_storm_catches_work_in_flight(tmp_path: Path, protocol: str) -> None:
    out = tmp_path / "run"
    cfg = fast_config(tmp_path, workload=WORK, timeouts={"hop": "auto", "task": "auto"},
                      scenario={"task_rate": "auto"})
    proc = run_fsr("run", "--config", str(cfg), "--protocol", protocol, "--out", str(out),
                   "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m, evs = metrics(out), events(out)
    f = m["inflight"]
    # the work really took time, in slots, and the mesh was loaded when the storm struck
    starts = [e for e in evs if e["event"] == "work_start"]
    assert starts and all(e["busy"] <= 8 for e in starts)
    assert m["load"]["utilisation"] > 0.1
    assert f["n"] >= 3, f
    assert sum(f["fates"].values()) == f["n"]
    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    caught = m["details"]["inflight"]["hops"]
    assert {h["victim"] for h in caught} <= set(kills)
    if protocol == "json":
        # json lets go at its first refused send or its heartbeat deadline, before the victims'
        # return (read from the log: each let-go precedes its victim's new process), and
        # re-publishes
        back = {v: next(e["ts"] for e in evs if e["event"] == "agent_started"
                        and e["node"] == v and e["ts"] > t) for v, t in kills.items()}
        let_go = [h for h in caught if h["let_go_ms"] is not None]
        assert let_go and all(kills[h["victim"]] + h["let_go_ms"] / 1000 < back[h["victim"]]
                              for h in let_go), (caught, back)
        assert f["fates"].get("waited_for_restart", 0) == 0
    else:
        # a2a holds an open task and resubscribes; the restarted peer never had it
        assert f["held"] >= 1 and f["fates"].get("waited_for_restart", 0) >= 1
        assert f["by_signal"].get("lost_by_peer", 0) >= 1
    assert m["details"]["detection"]["busy"]["n"] >= 1
    replay = subprocess.run([sys.executable, "-m", "fsr", "replay", str(log_path(out))],
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == (out / "failstorm_metrics.json").read_text()
