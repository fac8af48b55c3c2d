"""A mixed mesh (``protocols.by_role``) through a SIGKILL storm, on real processes: each agent
speaks its role's protocol on its inbox, every request is framed in its receiver's protocol and
answered in it (behind a tag part where that is not the asker's own: `fsr.bus.mux`), and each
lost peer is handled by its own protocol's failure design."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.helpers import check_storm_figures, events, fast_config, metrics, run_fsr

# seed 1 (fast_config) strikes agent_4 (search: a2a, which holds and resubscribes its hops) and
# agent_2 (triple: anp, which pings)
BY_ROLE = {"search": "a2a", "extract": "acp", "triple": "anp", "reason": "agora"}
# work that takes time, so the storm catches hops in flight (tests/runner/test_work_in_flight.py)
WORK = {"service_time": {"dist": "lognormal", "median": 0.5, "p95": 0.8}, "slots": 8}


def test_a_mixed_mesh_frames_each_hop_in_its_receivers_protocol(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = fast_config(tmp_path, protocols={"by_role": BY_ROLE}, workload=WORK,
                      timeouts={"hop": "auto", "task": "auto"}, scenario={"task_rate": "auto"})
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = metrics(out)
    assert m["protocol"] == "mix-a2a-acp-anp-agora"
    assert m["fault"]["victims"] == ["agent_2", "agent_4"]
    evs = events(out)
    spoken = {e["node"]: e["protocol"] for e in evs if e["event"] == "agent_started"}
    roles = {e["node"]: e["roles"][0] for e in evs if e["event"] == "agent_started"}
    assert spoken == {a: BY_ROLE[r] for a, r in roles.items()} and len(spoken) == 8
    sends = [e for e in evs if e["event"] == "send" and e["node"] in spoken
             and e["dst"] in spoken and e["cat"] in ("task", "handshake")]
    framed = Counter()
    for e in sends:
        proto = e["kind"].split(".")[0]
        mine, theirs = spoken[e["node"]], spoken[e["dst"]]
        # a request in the receiver's protocol, an answer in the sender's own
        assert proto in (mine, theirs), e
        # a tag goes only before a frame in a protocol the receiver does not speak
        assert "mux" not in e or (proto == mine != theirs and e["mux"] > 0), e
        framed["theirs" if proto == theirs else "answer", "mux" in e] += 1
    assert framed["theirs", False] > 100 and framed["answer", False] + framed["answer", True] > 100
    assert framed["answer", True] > 0  # answers across protocols went tagged
    # nothing any agent received failed to parse: every frame reached the right adapter
    assert [e for e in evs if e["event"] == "frame_dropped" and e["node"] in spoken] == []
    # each victim's loss handled by its own protocol's design: a2a holds its hops, the others
    # never do
    caught = m["details"]["inflight"]["hops"]
    assert {spoken[h["victim"]] for h in caught} == {"a2a", "anp"}, caught
    held = {e["dst"] for e in evs if e["event"] == "hop_held"}
    assert held and {spoken[d] for d in held} == {"a2a"}
    for key in ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
                "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m["details"])
    check_storm_figures(evs, m, duration=14)
    assert m["details"]["success_rate_drop"]["pre"]["success_rate"] >= 0.95
