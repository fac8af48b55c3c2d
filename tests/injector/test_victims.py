"""Victim choice: a seed names every storm's victims, drawn among the agents no fault holds."""

from __future__ import annotations

import random

from fsr.cluster.placement import place
from fsr.config.schedule import Targets
from fsr.injector.victims import resolve_targets
from fsr.workload.shards import assign_shards, holders

AGENTS = [f"agent_{i}" for i in range(10)]
ROLES = {a: [("search", "extract", "triple", "reason")[i % 4]] for i, a in enumerate(AGENTS)}
HOLDERS = holders(assign_shards(["f1", "f2", "f3"], AGENTS, 3))
# three hosts, spread and not in name order: h-c 0 3 6 9, h-a 1 4 7, h-b 2 5 8
HOSTS: dict[str, list[str]] = {}
for _agent, _host in place(AGENTS, ["h-c", "h-a", "h-b"], "spread").items():
    HOSTS.setdefault(_host, []).append(_agent)
NAMES = ["h-a", "h-b", "h-c"]  # what a count of hosts is drawn from: the names, sorted


def pick(targets: Targets, storm: int = 0, free: list[str] = AGENTS, seed: int = 9,
         hosts: dict[str, list[str]] = HOSTS) -> list[str]:
    return resolve_targets(targets, storm, AGENTS, free, ROLES, HOLDERS, hosts, seed)


def test_a_fraction_is_drawn_with_the_storms_own_seed() -> None:
    assert pick(Targets(fraction=0.3)) == sorted(random.Random(9).sample(AGENTS, 3))
    assert pick(Targets(fraction=0.3), storm=2) == sorted(random.Random("9/2").sample(AGENTS, 3))
    assert pick(Targets(fraction=0.3)) == pick(Targets(fraction=0.3))
    assert pick(Targets(fraction=0.3), seed=10) != pick(Targets(fraction=0.3))


def test_a_fraction_is_of_the_whole_mesh_drawn_among_the_free() -> None:
    free = AGENTS[5:]
    got = pick(Targets(fraction=0.3), free=free)
    assert len(got) == 3 and set(got) <= set(free)
    assert len(pick(Targets(fraction=1.0), free=free)) == 5  # never more than the free ones
    assert pick(Targets(fraction=0.0)) == []


def test_ids_roles_and_holders_keep_the_free_ones() -> None:
    assert pick(Targets(ids=("agent_7", "agent_2"))) == ["agent_2", "agent_7"]
    assert pick(Targets(ids=("agent_7", "agent_2")), free=["agent_7"]) == ["agent_7"]
    assert pick(Targets(role="search")) == ["agent_0", "agent_4", "agent_8"]
    assert pick(Targets(holders_of="f2")) == ["agent_1", "agent_2", "agent_3"]
    assert pick(Targets(holders_of="nope")) == []


HUB = "hub"
WITH_HUB = (*AGENTS, HUB)




def pick_hub(targets: Targets, free: tuple[str, ...] = WITH_HUB, seed: int = 9,
             hosts: dict[str, list[str]] = HOSTS) -> list[str]:
    return resolve_targets(targets, 0, list(WITH_HUB), list(free), {**ROLES, HUB: []}, HOLDERS,
                           hosts, seed, hub=HUB)


def test_hub_exclude_never_picks_the_hub_and_draws_as_without_one() -> None:
    for seed in range(200):
        for fraction in (0.3, 1.0):
            got = pick_hub(Targets(fraction=fraction), seed=seed)
            assert HUB not in got
            assert got == pick(Targets(fraction=fraction), seed=seed)  # the same draw
    assert HUB not in pick_hub(Targets(ids=("agent_1",)))
    assert pick_hub(Targets(role="search")) == pick(Targets(role="search"))


def test_hub_include_adds_the_hub_to_the_same_other_victims() -> None:
    for seed in range(50):
        got = pick_hub(Targets(fraction=0.3, hub=True), seed=seed)
        assert got == sorted([*pick(Targets(fraction=0.3), seed=seed), HUB])
    assert pick_hub(Targets(hub=True)) == [HUB]  # {hub: include}: the hub alone
    assert pick_hub(Targets(role="reason", hub=True)) == ["agent_3", "agent_7", HUB]
    # a hub some other fault holds is not struck again
    assert HUB not in pick_hub(Targets(fraction=0.3, hub=True), free=tuple(AGENTS))


def of(*hosts: str) -> list[str]:
    return sorted(a for h in hosts for a in HOSTS[h])


def test_named_hosts_strike_their_free_agents() -> None:
    assert pick(Targets(hosts=("h-a",))) == ["agent_1", "agent_4", "agent_7"]
    assert pick(Targets(hosts=("h-c", "h-a"))) == of("h-a", "h-c")
    assert pick(Targets(hosts=("h-a",)), free=["agent_4", "agent_5"]) == ["agent_4"]
    # a name the run does not have (the runner refuses it before the run) adds no victim
    assert pick(Targets(hosts=("h-b", "h-zz"))) == of("h-b")
    assert pick(Targets(hosts=("h-zz",))) == []
    assert pick(Targets(hosts=("h-a",)), hosts={}) == []  # a run without hosts


def test_a_count_of_hosts_is_drawn_with_the_storms_own_seed_among_sorted_names() -> None:
    assert pick(Targets(hosts=1)) == of(*random.Random(9).sample(NAMES, 1))
    assert pick(Targets(hosts=2), storm=3) == of(*random.Random("9/3").sample(NAMES, 2))
    assert pick(Targets(hosts=1)) == pick(Targets(hosts=1))
    assert len({tuple(pick(Targets(hosts=1), seed=s)) for s in range(30)}) == 3  # any host
    assert pick(Targets(hosts=5)) == AGENTS  # more hosts than the run has: all of them


def test_a_count_of_hosts_is_drawn_among_hosts_with_a_free_agent() -> None:
    # h-a and h-b held whole, h-c in part: every draw of one host is h-c's free agents
    free = ["agent_3", "agent_9"]
    assert {tuple(pick(Targets(hosts=1), free=free, seed=s)) for s in range(50)} == {
        ("agent_3", "agent_9")}
    assert pick(Targets(hosts=3), free=free) == free
    assert pick(Targets(hosts=1), free=[]) == []


def test_host_targets_with_a_hub_keep_the_hub_rule() -> None:
    # the hub on a host of its own, or sharing h-a: excluded, a host's other agents struck
    for placed in ({**HOSTS, "h-hub": [HUB]}, {**HOSTS, "h-a": [*HOSTS["h-a"], HUB]}):
        assert pick_hub(Targets(hosts=("h-a",)), hosts=placed) == of("h-a")
        assert pick_hub(Targets(hosts=("h-a", "h-hub")), hosts=placed) == of("h-a")
        for seed in range(50):  # the same draw as without the hub
            got = pick_hub(Targets(hosts=1), seed=seed, hosts=placed)
            assert got == pick(Targets(hosts=1), seed=seed)
            assert pick_hub(Targets(hosts=1, hub=True), seed=seed, hosts=placed) == sorted(
                [*got, HUB])
