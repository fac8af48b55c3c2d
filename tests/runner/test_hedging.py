"""Hedged requests on real processes (``recovery.hedge: p95``): in a pause storm, the hops the
stopped victims held are let go because a copy sent to another agent of the role answered
first (a stage's copy to another agent of the role, a lookup's to other holders of its
fragments), after the tail latency rather than after the heartbeat deadline, and every task
they held is answered; the extra executions are counted as duplicate work of cause `hedge`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.helpers import events, fast_config, metrics, run_fsr

SERVICE = 0.3  # seconds per unit of work: the stage latency the hedge delay learns


def test_hedging_works_around_paused_victims(tmp_path: Path) -> None:
    # 20 tasks a second: each of the 8 entry agents has seen 25 answers of every stage (the
    # hedge needs MIN_SAMPLES = 10) by the pause at 10 s
    cfg = fast_config(tmp_path, scenario={"fault": "pause", "fault_duration": 3,
                                          "task_rate": 20, "kill_at": 10, "duration": 16},
                      workload={"service_time": {"dist": "fixed", "seconds": SERVICE}},
                      recovery={"hedge": "p95"})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs, m = events(out), metrics(out)
    hedged = [e for e in evs if e["event"] == "hop_hedged"]
    assert hedged
    # a hedge waits the stage's p95, learnt from answers: at least one service time
    assert min(e["after_ms"] for e in hedged) >= SERVICE * 1000
    sent = {e["mid"]: e for e in evs if e["event"] == "hop_sent"}
    copies = [e for e in sent.values() if e.get("hedge")]
    assert len(copies) == len(hedged) and not any(e["retry"] for e in copies)
    # search agents hedge their lookups too: a lookup stuck on a stopped holder is asked of
    # other holders of its fragments, and the copies are counted as the lookups' cost
    looked = sum(e["stage"] == "lookup" for e in hedged)
    assert looked >= 1, Counter(e["stage"] for e in hedged)
    assert m["details"]["duplicate_work"]["lookups"]["hedged"] == looked
    # every copy went to another agent than the hop it hedges
    for h in hedged:
        assert h["dst"] != sent[h["mid"]]["dst"]
    # the work the storm caught on the stopped victims: let go when a hedge answered, before
    # the heartbeat deadline (0.25 s x 4) would have, and those tasks were answered
    f = m["inflight"]
    assert f["by_signal"].get("hedged", 0) >= 1, f
    let_go = [x for x in m["details"]["inflight"]["hops"] if x["signal"] == "hedged"]
    assert all(x["let_go_ms"] < 1000 for x in let_go), let_go
    assert f["tasks_hit"]["answered"] == f["tasks_hit"]["n"]  # (a paused entry agent resumes)
    # the price: repeated executions, each caused by a hedge (or by a storm's loss)
    causes = m["details"]["duplicate_work"]["causes"]
    assert causes.get("hedge", 0) >= 1, causes
    # one answer per task still: the loser's late reply is stale, never a second answer
    assert set(Counter(e["task"] for e in evs if e["event"] == "task_end").values()) == {1}
