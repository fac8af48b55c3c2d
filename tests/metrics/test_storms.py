"""Per-storm figures (`fsr.metrics.storms`) on a hand-written log."""

from __future__ import annotations

from fsr.metrics import compute_metrics
from tests.metrics.test_inflight import ev, storm_log


def test_a_storm_that_struck_nobody_does_not_shift_the_others() -> None:
    # storm 0's targets resolved to no agent (no kill logged); storm 1 struck v
    log = [e for e in storm_log() if e["event"] not in ("storm_start", "kill")] + [
        ev(3.0, "storm_start", node="runner", storm=0, fault="kill", victims=[]),
        ev(4.9, "storm_start", node="runner", storm=1, fault="kill", victims=["v"]),
        ev(5.0, "kill", node="runner", storm=1, victim="v", pid=1, kill_ts=5.0,
           signal="SIGKILL")]
    m = compute_metrics(log)
    assert [(s["index"], s["victims"]) for s in m["storms"]] == [(1, ["v"])]
    assert m["fault"]["victims"] == ["v"]
