"""The topologies' shapes and the relay rule (pure functions of `fsr.bus.topology`)."""

from __future__ import annotations

import pytest

from fsr.bus.topology import Routes, build_topology, components, diameter, distances

IDS = [f"agent_{i}" for i in range(12)]


def test_shapes() -> None:
    full = build_topology("full", IDS, 4, 1)
    assert all(len(p) == 11 for p in full.values()) and diameter(full) == 1
    star = build_topology("star", IDS, 4, 1)
    assert star["agent_0"] == IDS[1:] and all(star[a] == ["agent_0"] for a in IDS[1:])
    assert diameter(star) == 2
    ring = build_topology("ring", IDS, 4, 1)
    assert ring["agent_0"] == ["agent_1", "agent_11"] and diameter(ring) == 6
    with pytest.raises(ValueError, match="unknown topology"):
        build_topology("tree", IDS, 4, 1)


@pytest.mark.parametrize("degree", [1, 2, 4])
def test_random_k_is_seeded_two_way_and_connected(degree: int) -> None:
    ids = [f"agent_{i}" for i in range(256)]
    g = build_topology("random-k", ids, degree, 7)
    assert g == build_topology("random-k", ids, degree, 7)
    assert g != build_topology("random-k", ids, degree, 8)
    assert all(a in g[b] for a in ids for b in g[a])  # links are two-way
    assert all(len(g[a]) >= degree for a in ids)
    assert len(components({a: set(p) for a, p in g.items()}, ids)) == 1
    assert len(distances(g, frozenset({"agent_0"}))) == 256


def test_relays_only_strictly_closer_live_neighbours() -> None:
    ring = build_topology("ring", IDS, 4, 1)
    me = Routes("agent_0", ring)
    target = frozenset({"agent_3"})
    assert me.toward(target, set(IDS)) == ["agent_1"]
    assert me.toward(target, set(IDS) - {"agent_1"}) == []  # agent_11 is farther: no detour
    assert me.toward(frozenset({"agent_6"}), set(IDS)) == ["agent_1", "agent_11"]  # a tie
    # following the rule from anywhere reaches the target in exactly its distance: no loop
    for start in IDS:
        here, steps = start, 0
        while here != "agent_3":
            here = Routes(here, ring).toward(target, set(IDS))[0]
            steps += 1
        assert steps == distances(ring, target)[start]


def test_full_mesh_never_relays() -> None:
    assert Routes("agent_0", None).toward(frozenset({"agent_3"}), set(IDS)) == []
