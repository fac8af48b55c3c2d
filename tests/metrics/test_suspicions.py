"""`false_suspicions` (`fsr.metrics.suspicions`): exact counts on a hand-written log."""

from __future__ import annotations

from fsr.metrics.history import build_history
from fsr.metrics.suspicions import false_suspicions
from tests.metrics.test_inflight import ev, storm_log


def suspected(ts: float, node: str, peer: str, how: str = "heartbeat_timeout") -> dict:
    return ev(ts, "peer_suspected", node=node, peer=peer, how=how, silent_ms=3000.0)


def test_only_suspicions_no_fault_explains_are_false() -> None:
    # heartbeat 1 s x 3 (the config's): v, killed at 5.0 and back at 8.0, is held until 11.0
    log = storm_log()[:-1] + [
        suspected(0.5, "runner", "s2"),  # start-up, before t0 (1.0): false
        suspected(5.5, "s1", "v"),  # v down: true
        suspected(9.0, "s2", "v", "new_incarnation"),  # a restart seen: true
        suspected(10.9, "s1", "v"),  # inside the grace after v's return: explained
        suspected(12.0, "s1", "v"),  # v long back: false
        suspected(7.0, "v", "s1"),  # by v while it was held: apart
        suspected(14.0, "s2", "s1", "socket_disconnect"),  # false
        ev(26.0, "run_end", reason="completed"),
    ]
    f = false_suspicions(build_history(log))
    assert (f["n"], f["before_t0"], f["by_runner"], f["held_observer"]) == (3, 1, 1, 1)
    assert f["by_how"] == {"heartbeat_timeout": 2, "socket_disconnect": 1}
    assert [(x["node"], x["peer"]) for x in f["first"]] == [("runner", "s2"), ("s1", "v"),
                                                             ("s2", "s1")]
    # 3 agents over 26 s
    assert f["per_agent_hour"] == round(3 / (3 * 26 / 3600), 3)


def test_a_clean_run_has_none() -> None:
    f = false_suspicions(build_history(storm_log()))
    assert (f["n"], f["per_agent_hour"], f["first"]) == (0, 0.0, [])

