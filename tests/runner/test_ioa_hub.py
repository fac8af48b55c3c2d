"""ioa's hub: one more process that every agent links to alone and every hop goes through — and,
on real processes, a storm that includes it kills it (the single point of failure) while the
run still ends with its metrics."""

from __future__ import annotations

from pathlib import Path

from fsr.config import load_config
from fsr.protocols import HUB_ID
from fsr.runner.rundir import prepare_run
from tests.helpers import events, fast_config, metrics, pid_alive, run_fsr


def test_the_plan_adds_the_hub_and_links_every_agent_to_it_alone(tmp_path: Path) -> None:
    cfg = load_config(None, {"scenario.protocol": "ioa", "scenario.agent_count": 5,
                             "scenario.base_port": 9900})
    plan, _ = prepare_run(cfg, str(tmp_path / "run"))
    ids = [a.node_id for a in plan.agents]
    assert ids == [f"agent_{i}" for i in range(5)] + [HUB_ID]
    hub = plan.agent(HUB_ID)
    assert (hub.index, hub.roles) == (5, [])
    ports = [p for a in plan.agents for p in (a.data_port, a.hb_port)]
    assert ports == list(range(plan.runner_port + 1, plan.runner_port + 13))  # 2 more for it
    assert plan.peers_of(HUB_ID) == ids[:-1]
    assert all(plan.peers_of(a) == [HUB_ID] for a in ids[:-1])
    json_plan, _ = prepare_run(load_config(None, {"scenario.agent_count": 5}),
                               str(tmp_path / "json"))
    assert HUB_ID not in [a.node_id for a in json_plan.agents]


def test_a_storm_with_the_hub_kills_it_and_the_run_ends_with_metrics(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # work that takes time, so hops are in flight through the hub when it is killed
    cfg = fast_config(tmp_path, scenario={"base_port": 9900},
                      workload={"service_time": {"dist": "fixed", "seconds": 0.2}})
    proc = run_fsr("run", "--config", str(cfg), "--protocol", "ioa", "--target-hub", "include",
                   "--out", str(out), "--no-report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evs = events(out)
    start = next(e for e in evs if e["event"] == "run_start")
    peers = {a["id"]: a["peers"] for a in start["agents"]}
    assert all(peers[a] == [HUB_ID] for a in peers if a != HUB_ID)
    # every message an agent sends goes to the hub (or to itself: a stage of its own role)
    agents = set(peers) - {HUB_ID}
    sent = [e for e in evs if e["event"] == "send" and e["node"] in agents]
    assert sent and all(e["dst"] in {HUB_ID, e["node"], "runner"} for e in sent)
    assert any(e["event"] == "hop_relayed" and e["node"] == HUB_ID for e in evs)

    # the seed's other victims (as with the hub spared: test_protocol_storms) and the hub
    kills = {e["victim"]: e for e in evs if e["event"] == "kill"}
    assert sorted(kills) == ["agent_2", "agent_4", HUB_ID]
    killed = kills[HUB_ID]
    pid = killed["pid"]
    assert any(e["event"] == "agent_started" and e["node"] == HUB_ID and e["pid"] == pid
               and e["ts"] < killed["kill_ts"] for e in evs)
    # that process never logged again: the hub's next event is its new process starting
    after = min((e for e in evs if e["node"] == HUB_ID and e["ts"] > killed["ts"]),
                key=lambda e: e["ts"])
    assert after["event"] == "agent_started" and after["pid"] != pid
    assert not pid_alive(pid)
    # the agents held their requests to the hub and sent them again (IoA's client retries)
    retries = [e for e in evs if e["event"] == "ioa_retry" and e["dst"] == HUB_ID]
    assert retries and all(e["node"] in agents for e in retries)

    m = metrics(out)
    assert m["fault"]["victims"] == ["agent_2", "agent_4", HUB_ID]
    for key in ("recovery_ms", "success_rate_drop", "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m["details"])
    assert m["inflight"]["n"] > 0 and m["bytes"]["total"] > 0  # hops on the victims, the hub's
