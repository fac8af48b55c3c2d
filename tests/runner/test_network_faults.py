"""Network faults in the run's own network namespace: a partition cuts 2 of 8 agents off for 5 s,
both sides notice, nobody dies, the mesh heals; a delay slows the victims' links (and the relay
forwards exactly the bytes fsr counted); corruption reaches the application."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import events, fast_config, metrics, run_fsr

pytestmark = pytest.mark.usefixtures("network_faults")  # root and iptables-legacy, or skip


def fault_run(tmp_path: Path, fault: str, *flags: str, heartbeat: dict[str, Any] | None = None,
              protocols: dict[str, Any] | None = None,
              **scenario: Any) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    """One run with `fault` on a quarter of 8 agents: its folder, events and net_fault event."""
    cfg = fast_config(tmp_path, scenario={"kill_fraction": 0.25, **scenario},
                      **({"heartbeat": heartbeat} if heartbeat else {}),
                      **({"protocols": protocols} if protocols else {}))
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--fault", fault, *flags, "--out", str(out),
                   "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    (cut,) = [e for e in evs if e["event"] == "net_fault"]
    return out, evs, cut


def test_partition_both_sides_suspect_then_heal(tmp_path: Path) -> None:
    out, evs, cut = fault_run(tmp_path, "partition", duration=16, kill_at=5, fault_duration=5)
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
    # each victim handshakes with the other side again after the heal, before the run ends
    for v in victims:
        assert any(e["event"] == "handshake_done" and e["ts"] >= healed["ts"]
                   and v in (e["node"], e["peer"]) and {e["node"], e["peer"]} & others
                   for e in evs), v
    assert 0 < m["storms"][0]["rejoin_p50_ms"] <= (evs[-1]["ts"] - healed["ts"]) * 1000


# a mixed mesh (`fsr.bus.mux`): its tag parts are counted too
MIXED = {"by_role": {"search": "a2a", "extract": "json", "triple": "anp", "reason": "agora"}}


@pytest.mark.parametrize("protocols", [None, MIXED], ids=["json", "mixed"])
def test_delay_slows_the_victims_links_and_the_relay_sees_the_counted_bytes(
        tmp_path: Path, protocols: dict[str, Any] | None) -> None:
    out, evs, cut = fault_run(tmp_path, "delay", duration=14, kill_at=5, fault_duration=5,
                              delay_ms=150, jitter_ms=30, protocols=protocols)
    (healed,) = [e for e in evs if e["event"] == "storm_end"]
    victims = set(cut["victims"])
    sent = {e["mid"]: e for e in evs if e["event"] == "send" and e["cat"] == "task"
            and e["mid"] and e["dst"].startswith("agent_")}
    slow, fast = [], []
    for e in evs:
        s = sent.get(e.get("mid")) if e["event"] == "deliver" else None
        if s is None or s["dst"] != e["node"]:
            continue
        lat = e["ts"] - s["ts"]
        touches = {s["node"], e["node"]} & victims
        if touches and cut["ts"] + 0.5 <= s["ts"] <= healed["ts"] - 0.5:
            slow.append(lat)
        elif not touches:
            fast.append(lat)
    slow.sort()
    fast.sort()
    assert slow and fast
    # 150 +- 30 ms added on every link of a victim: the slow median carries it, over the fast
    # one of the same run (the machine's load slows both alike)
    slow_p50, fast_p50 = slow[len(slow) // 2], fast[len(fast) // 2]
    assert slow_p50 >= 0.1 and slow_p50 - fast_p50 >= 0.1, (slow_p50, fast_p50)
    # every byte the relay forwarded between two agents is one fsr counted at the socket
    relayed = sum(e["bytes"] for e in evs if e["event"] == "relay_bytes")
    agents = {f"agent_{i}" for i in range(8)}

    def between(e: dict, other: str) -> bool:
        return e["node"] in agents and e.get(other) in agents

    counted = (sum(e["wire"] for e in evs if e["event"] == "send" and between(e, "dst"))
               + sum(wire for e in evs if e["event"] == "hb_tally" and e["node"] in agents
                     for src, (_, wire, *_) in e["by_src"].items() if src in agents)
               + sum(e["wire"] for e in evs if e["event"] == "zmtp_connect"
                     and between(e, "peer")))
    # Within 0.5 %: heartbeat copies the relay forwarded as the agents stopped are never read,
    # so never counted (seen: 0 and 1,296 of 1,130,364 bytes).
    assert relayed > 0 and 0 <= relayed - counted < 0.005 * relayed, (counted, relayed)
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}


@pytest.mark.parametrize("protocol", ["json", "anp"])
def test_corruption_reaches_the_application(protocol: str, tmp_path: Path) -> None:
    # security none: under CURVE the MAC would reject every flipped frame before any decoder
    out, evs, cut = fault_run(tmp_path, "corrupt", "--protocol", protocol, duration=14,
                              kill_at=5, fault_duration=4, fault_percent=25, security="none")
    flips = [e for e in evs if e["event"] == "corrupt_frame"]
    assert flips and {e["dst"] for e in flips} <= set(cut["victims"])
    c = metrics(out)["storms"][0]["corruption"]
    assert c["flipped"] == len(flips)
    if protocol == "anp":  # the CRC rejects every flipped frame; NACKs recover the data ones
        crc = [e for e in evs if e["event"] == "crc_fail"]
        # every flipped frame fails its CRC; `rejected` counts every frame a victim dropped in
        # the storm, which may include a protocol refusal the flips caused (a 401 seen once)
        assert len(crc) == c["flipped"] <= c["rejected"] and c["delivered"] == 0
        data = [e for e in crc if e.get("channel") != "heartbeat"]  # heartbeats: no NACK
        assert data and sum(e["event"] == "anp_recovered" for e in evs) >= len(data) // 2
    else:  # no check: some fail to decode, the rest are delivered changed
        assert c["delivered"] >= 1
        assert c["rejected"] == sum(e["event"] == "frame_dropped" for e in evs)
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1}


def test_counted_bytes_are_the_streams_the_kernel_delivered_under_loss(tmp_path: Path) -> None:
    # `ss` sees only the sockets still open: a connection closed and made again (a peer
    # suspected under the loss and handshaken anew) takes its bytes out of the kernel's count
    # while fsr's stay. A 5 s heartbeat deadline outlasts the kernel's retransmissions, so the
    # loss is retransmitted, not mistaken for a death (with 1 s, 6 of 144 connections were
    # remade in one run and the counts parted by 1.4 %).
    out, evs, _ = fault_run(tmp_path, "loss", heartbeat={"liveness": 20}, duration=12, kill_at=4,
                            fault_duration=5, fault_percent=30)
    (tcp,) = [e for e in evs if e["event"] == "tcp_totals"]
    # (a heartbeat tally counts at the end of its interval: up to one interval of copies read
    # before tcp_totals is left out, well inside the 1 %)
    counted = sum(e["wire"] for e in evs if e["event"] in ("send", "hb_tally", "zmtp_connect")
                  and e["ts"] <= tcp["ts"])
    # the kernel resent what was lost; fsr counts the streams, which is what the receivers got
    assert tcp["retransmitted"] > 0
    remade = [e for e in evs if e["event"] == "zmtp_disconnect" and e["ts"] <= tcp["ts"]]
    assert abs(counted - tcp["received"]) < 0.01 * tcp["received"], (counted, tcp, remade)
