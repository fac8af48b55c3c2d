"""Network faults on real kernel networking, in the run's own network namespace: a partition
cuts 2 of 8 agents off for 5 s, both sides notice, nobody dies, the mesh heals; and a kind this
kernel cannot do is refused before anything starts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import events, fast_config, metrics, run_fsr


def test_partition_both_sides_suspect_then_heal(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"duration": 16, "kill_at": 5, "fault_duration": 5,
                                          "kill_fraction": 0.25})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--fault", "partition", "--out", str(out),
                   "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    (cut,) = [e for e in evs if e["event"] == "net_fault"]
    (healed,) = [e for e in evs if e["event"] == "storm_end"]
    victims = set(cut["victims"])
    assert len(victims) == 2
    others = {f"agent_{i}" for i in range(8)} - victims
    during = [e for e in evs if e["event"] == "peer_suspected"
              and cut["ts"] <= e["ts"] <= healed["ts"]]
    pairs = {(e["node"], e["peer"]) for e in during}
    # both sides suspect each other, across the cut only
    assert {(o, v) for o in others for v in victims} <= pairs
    assert {(v, o) for o in others for v in victims} <= pairs
    assert all((a in victims) != (b in victims) for a, b in pairs)
    # nobody died: one process per agent for the whole run, no kill, no restart
    assert Counter(e["node"] for e in evs if e["event"] == "agent_started") == Counter(
        {f"agent_{i}": 1 for i in range(8)})
    assert not [e for e in evs if e["event"] in ("kill", "restart")]
    # the mesh heals: every suspected peer is seen again after the cut is lifted
    returned = {(e["node"], e["peer"]) for e in evs if e["event"] == "peer_returned"
                and e["ts"] >= healed["ts"]}
    assert pairs <= returned
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}
    m = metrics(out)
    assert m["fault"]["kind"] == "partition"
    assert m["detection_ms"]["n"] == 2 * len(victims) * len(others)
    assert m["storms"][0]["rejoin_p50_ms"] is not None


def test_a_fault_this_kernel_cannot_do_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_fsr("run", "--fault", "delay", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "fsr: error: scenario.fault (--fault): 'delay' is not available: needs tc netem "
        "(sch_netem), which this kernel lacks"]
    assert not out.exists()


@pytest.mark.parametrize("protocol", ["json", "anp"])
def test_corruption_reaches_the_application(protocol: str, tmp_path: Path) -> None:
    # security none: under CURVE the MAC would reject every flipped frame before any decoder
    cfg = fast_config(tmp_path, scenario={"duration": 14, "kill_at": 5, "fault_duration": 4,
                                          "fault_percent": 25, "kill_fraction": 0.25,
                                          "security": "none"})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--protocol", protocol, "--fault", "corrupt",
                   "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    (cut,) = [e for e in evs if e["event"] == "net_fault"]
    flips = [e for e in evs if e["event"] == "corrupt_frame"]
    assert flips and {e["dst"] for e in flips} <= set(cut["victims"])
    c = metrics(out)["storms"][0]["corruption"]
    assert c["flipped"] == len(flips)
    if protocol == "anp":  # the CRC rejects every flipped frame, and the NACK recovers them
        crc = [e for e in evs if e["event"] == "crc_fail"]
        assert len(crc) == c["rejected"] == c["flipped"] and c["delivered"] == 0
        assert sum(e["event"] == "anp_recovered" for e in evs) >= len(crc) // 2
    else:  # no check: some fail to decode, the rest are delivered changed
        assert c["delivered"] >= 1
        assert c["rejected"] == sum(e["event"] == "frame_dropped" for e in evs)
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}
