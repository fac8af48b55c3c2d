"""Placement: which host each agent runs on, spread round-robin or packed in order."""

from __future__ import annotations

from collections import Counter

import pytest

from fsr.cluster.placement import place
from fsr.config.schema import PLACEMENTS
from fsr.workload.roles import agent_ids

HOSTS = ["h-b", "h-a", "h-c"]  # not sorted: the order given is the order used


def test_spread_deals_the_agents_round_robin_in_the_hosts_order() -> None:
    got = place(agent_ids(8), HOSTS, "spread")
    assert list(got) == agent_ids(8)
    assert list(got.values()) == ["h-b", "h-a", "h-c", "h-b", "h-a", "h-c", "h-b", "h-a"]


def test_pack_fills_the_hosts_in_order_ceil_agents_over_hosts_each() -> None:
    got = place(agent_ids(8), HOSTS, "pack")
    assert list(got.values()) == ["h-b"] * 3 + ["h-a"] * 3 + ["h-c"] * 2
    assert Counter(place(agent_ids(7), HOSTS, "pack").values()) == {"h-b": 3, "h-a": 3,
                                                                    "h-c": 1}
    # fewer agents than hosts: one each, the last hosts left empty
    assert place(agent_ids(2), HOSTS, "pack") == {"agent_0": "h-b", "agent_1": "h-a"}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_every_agent_gets_a_given_host(placement: str) -> None:
    for n in (0, 1, 3, 4, 10, 64):
        got = place(agent_ids(n), HOSTS, placement)
        assert sorted(got) == sorted(agent_ids(n)) and set(got.values()) <= set(HOSTS)
    assert set(place(agent_ids(5), ["only"], placement).values()) == {"only"}


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="must be one of spread, pack"):
        place(agent_ids(4), HOSTS, "scatter")
    with pytest.raises(ValueError, match="no hosts"):
        place(agent_ids(4), [], "spread")
    with pytest.raises(ValueError, match="a host is given twice"):
        place(agent_ids(4), ["h", "h"], "pack")
