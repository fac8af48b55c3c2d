"""Victim choice: a seed names every storm's victims, drawn among the agents no fault holds."""

from __future__ import annotations

import random

from fsr.config.schedule import Targets
from fsr.injector.victims import resolve_targets
from fsr.workload.shards import assign_shards, holders

AGENTS = [f"agent_{i}" for i in range(10)]
ROLES = {a: [("search", "extract", "triple", "reason")[i % 4]] for i, a in enumerate(AGENTS)}
HOLDERS = holders(assign_shards(["f1", "f2", "f3"], AGENTS, 3))


def pick(targets: Targets, storm: int = 0, free: list[str] = AGENTS, seed: int = 9) -> list[str]:
    return resolve_targets(targets, storm, AGENTS, free, ROLES, HOLDERS, seed)


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


def pick_hub(targets: Targets, free: tuple[str, ...] = WITH_HUB, seed: int = 9) -> list[str]:
    return resolve_targets(targets, 0, list(WITH_HUB), list(free), {**ROLES, HUB: []}, HOLDERS,
                           seed, hub=HUB)


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
