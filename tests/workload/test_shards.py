"""Deterministic shard placement with replication."""

import pytest

from fsr.workload.shards import assign_shards, holders

FIDS = [f"f{i:04d}" for i in range(1, 11)]
AGENTS = ["agent_0", "agent_1", "agent_2", "agent_3"]


def test_fragment_i_goes_to_consecutive_agents() -> None:
    shards = assign_shards(FIDS, AGENTS, 2)
    owners = holders(shards)
    for i, fid in enumerate(FIDS):
        assert owners[fid] == sorted({AGENTS[i % 4], AGENTS[(i + 1) % 4]})
    assert shards["agent_0"] == ["f0001", "f0004", "f0005", "f0008", "f0009"]


def test_every_fragment_has_replication_holders_and_load_is_even() -> None:
    shards = assign_shards(FIDS * 3, AGENTS, 3)  # 30 placements of 3 -> 90 / 4 agents
    sizes = sorted(len(v) for v in shards.values())
    assert sum(sizes) == 90 and sizes[-1] - sizes[0] <= 3


def test_replication_is_capped_by_agent_count_and_no_agent_twice() -> None:
    shards = assign_shards(FIDS, AGENTS[:2], 5)
    assert all(holders(shards)[f] == AGENTS[:2] for f in FIDS)
    single = assign_shards(FIDS, ["solo"], 2)
    assert single == {"solo": FIDS}


def test_deterministic_and_edge_cases() -> None:
    assert assign_shards(FIDS, AGENTS, 2) == assign_shards(FIDS, AGENTS, 2)
    assert assign_shards(FIDS, [], 2) == {}
    assert assign_shards([], AGENTS, 2) == {a: [] for a in AGENTS}
    with pytest.raises(ValueError):
        assign_shards(FIDS, AGENTS, 0)


def test_losing_fewer_than_replication_agents_keeps_every_fragment() -> None:
    shards = assign_shards(FIDS, AGENTS, 2)
    for dead in AGENTS:
        alive = {a: f for a, f in shards.items() if a != dead}
        assert set(holders(alive)) == set(FIDS)
