"""Topologies on real processes: agents connect to their neighbours only, heartbeats follow the
links, and hops to a role or a shard no neighbour holds are relayed as counted protocol
messages — through a fail storm, with the topology in the metrics."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.helpers import check_storm_figures, events, fast_config, metrics, run_fsr


def test_ring_connects_neighbours_only_and_relays(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"topology": "ring", "security": "none"})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    start = next(e for e in evs if e["event"] == "run_start")
    peers = {a["id"]: set(a["peers"]) for a in start["agents"]}
    n = len(peers)
    assert all(peers[f"agent_{i}"] == {f"agent_{(i - 1) % n}", f"agent_{(i + 1) % n}"}
               for i in range(n))

    # every connection an agent opened is to a neighbour (or itself, or the runner), and so
    # is every heartbeat subscription
    for e in evs:
        if e["event"] == "zmtp_connect" and e["node"] in peers:
            assert e["peer"] in peers[e["node"]] | {e["node"], "runner"}, e
    subs = {(e["node"], e["peer"]) for e in evs if e["event"] == "zmtp_connect"
            and e["sock"] == "sub" and e["node"] in peers}
    assert subs == {(a, b) for a in peers for b in peers[a]}
    assert all(e["dst"] in peers[e["node"]] | {e["node"], "runner"}
               for e in evs if e["event"] == "send" and e["node"] in peers)

    # relays: stage requests (a role two hops away) and lookups (a shard beyond the neighbours)
    relayed = [e for e in evs if e["event"] == "hop_relayed"]
    kinds = Counter(e["kind"] for e in relayed)
    assert kinds["stage_request"] > 0 and kinds["lookup"] > 0, kinds
    legs = {e["mid"]: e for e in evs if e["event"] == "hop_sent" and e.get("relay")}
    sent = {e["mid"] for e in evs if e["event"] == "send"}
    refused = {e["mid"] for e in evs if e["event"] == "send_failed"}  # to a victim, say
    assert legs and set(legs) <= sent | refused  # each leg went on the wire, counted
    assert len(set(legs) & sent) > 0.9 * len(legs)
    for e in relayed:  # a relay passes a request on towards its destination, never back
        assert e["dst"] in peers[e["node"]] and e["dst"] != e["src"]

    m = metrics(out)
    assert m["topology"]["kind"] == "ring" and m["topology"]["links"] == n
    assert m["topology"]["diameter"] == n // 2
    assert m["topology"]["relayed"] == {"stage": kinds["stage_request"],
                                        "lookup": kinds["lookup"]}
    assert m["topology"]["relay_request_wire"] == sum(
        e["wire"] for e in evs if e["event"] == "send" and e.get("mid") in legs) > 0
    # the storm struck, and tasks still got answered through the relays
    assert m["fault"]["injected"]
    check_storm_figures(evs, m, duration=14)
    assert m["tasks"]["correct"] >= 0.7 * m["tasks"]["submitted"]


def test_star_routes_everything_through_the_hub(tmp_path: Path) -> None:
    cfg = fast_config(tmp_path, scenario={"topology": "star", "kill_fraction": 0,
                                          "duration": 6, "security": "none"})
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    agents = [e["id"] for e in next(e for e in evs if e["event"] == "run_start")["agents"]]
    leaves = set(agents) - {"agent_0"}
    # leaves talk to the hub only; the hub relays what it cannot do itself
    for e in evs:
        if e["event"] == "send" and e["node"] in leaves:
            assert e["dst"] in {"agent_0", "runner", e["node"]}, e
    assert all(e["node"] == "agent_0" for e in evs if e["event"] == "hop_relayed")
    m = metrics(out)
    assert m["topology"]["kind"] == "star" and m["topology"]["diameter"] == 2
    assert m["topology"]["relayed"]["stage"] > 0
    assert m["tasks"]["correct"] >= 0.8 * m["tasks"]["submitted"]
