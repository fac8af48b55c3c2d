"""Lifeguard (`fsr.bus.lifeguard`) as pure logic: memberlist's suspicion timer and local health
arithmetic, and SWIM running with them on the simulated network of `tests.bus.test_swim`."""

from __future__ import annotations

import math

import pytest

from fsr.bus.lifeguard import AWARENESS_MAX, Awareness, Suspicion
from tests.bus.test_swim import Net


def test_a_suspicion_starts_at_six_times_the_minimum_and_confirmations_shorten_it() -> None:
    s = Suspicion.begin("m1", now=100.0, least=4.0, members=16, suspicion_mult=4)
    assert (s.k, s.most, s.deadline) == (2, 24.0, 124.0)
    assert not s.confirm("m1")  # the suspecter itself is not a confirmation
    assert s.confirm("m2")
    assert s.deadline == pytest.approx(100.0 + math.floor(
        1000 * (24 - math.log(2) / math.log(3) * 20)) / 1000)
    assert not s.confirm("m2")  # one confirmation per member
    assert s.confirm("m3") and s.deadline == pytest.approx(104.0)  # k = 2: the minimum
    assert not s.confirm("m4")  # enough confirmations: no more are taken


def test_a_group_too_small_to_confirm_waits_the_minimum() -> None:
    s = Suspicion.begin("m1", now=0.0, least=4.0, members=3, suspicion_mult=4)
    assert (s.k, s.deadline) == (0, 4.0)


def test_local_health_is_held_between_zero_and_seven_and_scales_the_interval() -> None:
    a = Awareness()
    assert not a.apply(-1) and a.score == 0
    for _ in range(20):
        a.apply(1)
    assert a.score == AWARENESS_MAX - 1 and a.scale(0.5) == 4.0


def test_with_lifeguard_a_dead_member_is_still_declared_dead_by_everyone() -> None:
    net = Net(16, lifeguard=True)
    net.run(5.0)
    net.down.add("m3")
    net.run(40.0, start=5.0)
    dead = {o for o, c, p in net.changes if c == "dead" and p == "m3"}
    assert dead == set(net.ids) - {"m3"}
    assert not [c for c in net.changes if c[1] == "dead" and c[2] != "m3"]
    # confirmations arrive: some member's suspect updates carry who suspected
    assert any(len(s.confirmations) > 1 for n in net.nodes.values()
               for s in n.suspicions.values())


def test_a_healthy_cluster_keeps_full_health_and_plain_updates() -> None:
    for lifeguard in (False, True):
        net = Net(16, lifeguard=lifeguard)
        net.run(20.0)
        assert not [c for c in net.changes if c[1] in ("suspect", "dead", "health")]
        assert all(n.awareness.score == 0 for n in net.nodes.values())


def test_a_member_that_loses_its_probes_slows_its_own_probing() -> None:
    net = Net(8, lifeguard=True)
    net.run(3.0)
    me = net.nodes["m0"]
    # every other member goes silent to m0 only: its probes fail, its health score climbs
    net.down |= set(net.ids) - {"m0"}
    net.run(12.0, start=3.0)
    assert me.awareness.score >= 3
    assert ("m0", "health", "m0") in net.changes
    assert me.next_probe is not None and me.next_probe - 12.0 <= me.awareness.scale(1.0)
