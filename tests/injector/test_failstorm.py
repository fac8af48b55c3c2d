"""`FailStorm` owns the kill: it draws the victims when a storm strikes, signals real processes
in one burst, has the host restart them, holds them until ``storm_end``, and tells the host
(`StormHost`) before and after each strike. The host here is a stand-in with a fake clock and
real ``sleep`` processes (`tests.injector.host`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import pytest

from fsr.cluster.placement import place
from fsr.config import from_dict, to_dict
from fsr.injector import FailStorm, NetworkControl
from fsr.workload.shards import assign_shards, holders
from tests.injector.host import Host, plan_with, settles

FIDS = [f"f{i:04d}" for i in range(1, 13)]
AGENTS = [f"agent_{i}" for i in range(8)]
SHARDS = assign_shards(FIDS, AGENTS, 2)


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    made: list[Host] = []
    yield made
    for host in made:
        host.close()


def storm_for(hosts: list[Host], faults: list[dict[str, object]], seed: int = 5,
              network: NetworkControl | None = None) -> tuple[FailStorm, Host]:
    plan = plan_with(faults, seed=seed)
    host = Host(plan)
    hosts.append(host)
    return FailStorm(host, plan, SHARDS, seed, network), host


def test_a_kill_storm_kills_in_one_burst_restarts_and_ends(hosts: list[Host]) -> None:
    storm, host = storm_for(hosts, [{"kind": "kill", "at": 4, "duration": 2,
                                     "targets": {"fraction": 0.25}}])
    before = dict(host.procs)
    storm.start(0.0)
    held_at: dict[float, list[str]] = {}
    host.run_until(5.0)
    held_at[5.0] = [a for a in AGENTS if storm.holds(a)]
    host.run_until(100.0)
    # the victims of seed 5's storm 0: the draw the runner has always made
    victims = sorted(random.Random(5).sample(AGENTS, 2))
    assert held_at[5.0] == victims
    assert not any(storm.holds(a) for a in AGENTS)
    assert host.names() == ["<striking>", "storm_start", "kill", "kill", "strike_spread",
                            "<struck>", "restart", "restart", "storm_end"]
    assert host.events[0][1] == {"victims": victims, "takes_shards": True}
    start = host.events[1][1]
    assert start == {"storm": 0, "fault": "kill", "victims": victims, "at": 4.0,
                     "duration": 2.0, "percent": None, "targets": {"fraction": 0.25}}
    kills = [f for name, f in host.events if name == "kill"]
    assert [k["victim"] for k in kills] == victims
    assert [k["pid"] for k in kills] == [before[v].pid for v in victims]
    assert all(k["signal"] == "SIGKILL" for k in kills)
    assert kills[0]["kill_ts"] <= kills[1]["kill_ts"]  # type: ignore[operator]
    assert all(before[v].returncode == -9 for v in victims)  # really SIGKILLed
    spread = host.events[4][1]
    assert set(spread) == {"storm", "victims", "ms", "realtime"} and spread["victims"] == 2
    restarts = [f for name, f in host.events if name == "restart"]
    assert [r["pid"] for r in restarts] == [host.procs[v].pid for v in victims]
    assert all(host.procs[v].poll() is None for v in victims)  # the fresh processes run
    assert host.events[-1] == ("storm_end", {"storm": 0, "fault": "kill", "victims": victims})


def test_a_pause_stops_then_continues_the_same_processes(hosts: list[Host]) -> None:
    storm, host = storm_for(hosts, [{"kind": "pause", "at": 3, "duration": 4,
                                     "targets": {"role": "search"}}])
    storm.start(0.0)
    host.run_until(3.0)
    victims = ["agent_0", "agent_4"]  # the search role: agents 0, 4
    assert [e for e in host.events if e[0] == "<striking>"][0][1]["takes_shards"] is False
    assert all(settles(host.pid(v), stopped=True) for v in victims)
    assert all(storm.holds(v) for v in victims)
    host.run_until(10.0)
    assert host.names() == ["<striking>", "storm_start", "pause", "pause", "strike_spread",
                            "<struck>", "resume", "resume", "storm_end"]
    assert all(settles(host.pid(v), stopped=False) for v in victims)
    pauses = [f for name, f in host.events if name == "pause"]
    resumes = [f for name, f in host.events if name == "resume"]
    assert [p["pid"] for p in pauses] == [r["pid"] for r in resumes]
    assert all(p["signal"] == "SIGSTOP" for p in pauses)
    assert set(resumes[0]) == {"storm", "victim", "pid", "resume_ts", "host"}
    assert not host.gone and not any(storm.holds(a) for a in AGENTS)


def test_holders_of_a_fragment_come_from_the_shards(hosts: list[Host]) -> None:
    storm, host = storm_for(hosts, [{"kind": "kill", "at": 1, "duration": "never",
                                     "targets": {"holders_of": "f0003"}}])
    storm.start(0.0)
    host.run_until(50.0)
    assert host.events[1][1]["victims"] == holders(SHARDS)["f0003"] == ["agent_2", "agent_3"]
    assert "restart" not in host.names() and "storm_end" not in host.names()
    assert storm.holds("agent_2") and storm.holds("agent_3")  # never restarted: held for good


def test_a_held_agent_is_not_struck_again_and_an_empty_strike_says_nothing(
        hosts: list[Host]) -> None:
    storm, host = storm_for(hosts, [
        {"kind": "kill", "at": 1, "duration": "never", "targets": {"ids": ["agent_1", "agent_6"]}},
        {"kind": "pause", "at": 2, "duration": 1, "targets": {"ids": ["agent_1"]}},
        {"kind": "kill", "at": 3, "duration": 1, "targets": {"fraction": 0.5}}])
    storm.start(0.0)
    host.run_until(50.0)
    starts = [f for name, f in host.events if name == "storm_start"]
    assert [s["storm"] for s in starts] == [0, 2]  # storm 1's only target was held
    assert host.names().count("<striking>") == 2
    free = [a for a in AGENTS if a not in ("agent_1", "agent_6")]
    assert starts[1]["victims"] == sorted(random.Random("5/2").sample(free, 4))


def test_a_kill_host_kills_the_agents_placed_on_the_host(hosts: list[Host]) -> None:
    plan = plan_with([])
    config = from_dict({**to_dict(plan.config), "cluster": {"engine": "ray"}, "faults": [
        {"kind": "kill-host", "at": 1, "duration": "never", "targets": {"hosts": ["h-b"]}},
        {"kind": "kill-host", "at": 2, "duration": "never"}]})
    placed = place(AGENTS, ["h-a", "h-b", "h-c"], "pack")  # 3, 3, 2
    plan = replace(plan, config=config,
                   agents=[replace(a, host=placed[a.node_id]) for a in plan.agents])
    host = Host(plan)
    hosts.append(host)
    storm = FailStorm(host, plan, SHARDS, 5)
    storm.start(0.0)
    host.run_until(50.0)
    starts = [f for name, f in host.events if name == "storm_start"]
    assert [(s["fault"], s["targets"], s["victims"]) for s in starts] == [
        ("kill", {"hosts": ["h-b"]}, ["agent_3", "agent_4", "agent_5"]),
        # {hosts: 1} drawn among the hosts with an agent left, h-a and h-c, by seed 5's storm 1
        ("kill", {"hosts": 1}, {"h-a": AGENTS[:3], "h-c": AGENTS[6:]}[
            random.Random("5/1").sample(["h-a", "h-c"], 1)[0]])]
    assert host.names().count("kill") == 3 + len(starts[1]["victims"])  # type: ignore[arg-type]


class Rules:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def partition(self, targets: list[int]) -> str:
        self.calls.append(("partition", targets))
        return "h1"

    def loss(self, targets: list[int], percent: float) -> str:
        self.calls.append(("loss", (targets, percent)))
        return "h2"

    def clear(self, handle: str) -> object:
        self.calls.append(("clear", handle))
        return None


def test_a_network_fault_sets_its_rules_and_lifts_them(hosts: list[Host]) -> None:
    rules = Rules()
    storm, host = storm_for(hosts, [{"kind": "partition", "at": 2, "duration": 3,
                                     "targets": {"ids": ["agent_5", "agent_3"]}}],
                            network=rules)
    storm.start(0.0)
    host.run_until(4.0)
    assert rules.calls == [("partition", [3, 5])]
    assert storm.holds("agent_3")
    host.run_until(10.0)
    assert rules.calls[-1] == ("clear", "h1")
    assert host.names() == ["<striking>", "storm_start", "net_fault", "<struck>", "storm_end"]
    net = host.events[2][1]
    assert set(net) == {"storm", "fault", "victims", "kill_ts", "percent"}
    assert net["victims"] == ["agent_3", "agent_5"]
    assert not storm.holds("agent_3")
