"""SWIM membership on real processes (``heartbeat.membership: swim``): no heartbeat
subscriptions between agents, O(N) membership messages a period, and every victim of a storm
declared dead by the survivors that probe it, with no suspicion before the fault."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import check_storm_figures, events, fast_config, metrics, run_fsr


# lifeguard: the same promises with memberlist's local health and confirmation-based suspicion
@pytest.mark.parametrize("detector", ["fixed", "lifeguard"])
def test_swim_membership_through_a_storm(tmp_path: Path, detector: str) -> None:
    cfg = fast_config(tmp_path, heartbeat={"membership": "swim", "detector": detector})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    start = next(e for e in evs if e["event"] == "run_start")
    assert start["config"]["heartbeat"]["detector"] == detector
    agents = {e["id"] for e in start["agents"]}
    # agents subscribe to no agent's heartbeats (only the runner watches them)
    assert not [e for e in evs if e["event"] == "zmtp_connect" and e["sock"] == "sub"
                and e["node"] in agents]
    swim = [e for e in evs if e["event"] == "send" and e["cat"] == "heartbeat"]
    kinds = Counter(e["kind"] for e in swim)
    assert kinds["swim.ping"] > 0 and kinds["swim.ack"] > 0, kinds
    # one probe per member per period (0.25 s), give or take the storm's restarts
    t0 = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "broadcast")
    end = next(e["ts"] for e in evs if e["event"] == "phase" and e["name"] == "drain")
    pings = sum(1 for e in swim if e["kind"] == "swim.ping" and t0 <= e["ts"] <= end)
    assert pings <= 1.3 * len(agents) * (end - t0) / 0.25, pings

    kills = {e["victim"]: e["kill_ts"] for e in evs if e["event"] == "kill"}
    fault = min(kills.values())
    # no member was declared failed before the fault (a SWIM suspect state may come and go:
    # that is what refutation is for)
    assert not [e for e in evs if e["event"] == "peer_suspected" and e["ts"] < fault
                and e["node"] in agents]
    for v, ts in kills.items():  # each victim: suspected, then declared dead, by survivors
        assert any(e["event"] == "swim_suspect" and e["peer"] == v and e["ts"] > ts
                   for e in evs)
        assert any(e["event"] == "peer_suspected" and e["peer"] == v and e["ts"] > ts
                   and e["how"] in ("swim_dead", "new_incarnation") for e in evs)
    m = metrics(out)
    check_storm_figures(evs, m, duration=14)
    assert {p["how"] for p in m["details"]["detection"]["pairs"]} <= {"swim_dead",
                                                                     "new_incarnation",
                                                                     "send_failed"}
    assert m["overhead"]["heartbeat"]["swim"]["frames"] == len(swim)
    assert m["tasks"]["correct"] >= 0.8 * m["tasks"]["submitted"]
