"""The failure detectors (`fsr.bus.detectors`) as pure arithmetic: each deadline against the
formula of its source (Akka's φ accrual, Cassandra's exponential φ), and the monitor keeping
each peer's history in the node's peer table."""

from __future__ import annotations

import math

import pytest

from fsr.bus.detectors import (
    ExponentialAccrual,
    Fixed,
    PhiAccrual,
    phi_crossing,
    phi_of,
)
from fsr.bus.heartbeat import HeartbeatMonitor
from fsr.protocols.base import Heartbeat
from fsr.protocols.peers import PeerTable

AKKA = PhiAccrual(threshold=8.0, interval=1.0, pause=3.0, min_std=0.1)


@pytest.mark.parametrize("threshold", [0.5, 1.0, 3.0, 8.0, 12.0, 16.0])
def test_the_crossing_is_where_phi_reaches_the_threshold(threshold: float) -> None:
    y = phi_crossing(threshold)
    assert phi_of(5.0 + y * 0.3, mean=5.0, std=0.3) == pytest.approx(threshold, abs=1e-9)
    assert phi_of(5.0 + (y - 0.01) * 0.3, mean=5.0, std=0.3) < threshold


def test_phi_is_akkas_logistic_approximation() -> None:
    # phi at the mean is -log10(1/2); the approximation's cdf is within 0.00014 of the normal
    assert phi_of(10.0, mean=10.0, std=1.0) == pytest.approx(math.log10(2))
    normal_tail = 0.5 * math.erfc(2.0 / math.sqrt(2))  # 1 - F(mean + 2 std)
    assert 10 ** -phi_of(12.0, mean=10.0, std=1.0) == pytest.approx(normal_tail, abs=1.4e-4)


def test_phi_starts_from_akkas_bootstrap_and_learns_regular_heartbeats() -> None:
    arrivals = AKKA.start()  # two intervals, 1 s -+ 0.25 s
    assert (arrivals.mean(), arrivals.std()) == pytest.approx((1.0, 0.25))
    assert AKKA.deadline(arrivals, 100.0) == pytest.approx(100.0 + 1.0 + 3.0 + 5.226 * 0.25,
                                                           abs=1e-3)
    for _ in range(998):
        AKKA.arrived(arrivals, 1.0, was_suspected=False)
    # std ~ 0.016 s is held at min_std: mean + pause + y(8) x 0.1
    assert AKKA.deadline(arrivals, 0.0) == pytest.approx(1.0 + 3.0 + 0.5226, abs=2e-3)


def test_irregular_heartbeats_push_the_deadline_out() -> None:
    steady, jittery = AKKA.start(), AKKA.start()
    for i in range(200):
        AKKA.arrived(steady, 1.0, was_suspected=False)
        AKKA.arrived(jittery, 0.4 if i % 2 else 1.6, was_suspected=False)
    assert AKKA.deadline(jittery, 0.0) - AKKA.deadline(steady, 0.0) > 2.5


def test_the_interval_that_ends_a_suspicion_is_not_sampled() -> None:
    arrivals = AKKA.start()
    AKKA.arrived(arrivals, 30.0, was_suspected=True)
    assert len(arrivals.intervals) == 2 and arrivals.mean() == pytest.approx(1.0)


def test_cassandras_exponential_phi() -> None:
    fd = ExponentialAccrual(threshold=8.0, initial=2.0)
    arrivals = fd.start()
    assert fd.deadline(arrivals, 0.0) == pytest.approx(8.0 * math.log(10) * 2.0)
    fd.arrived(arrivals, 1.0, was_suspected=False)
    fd.arrived(arrivals, 9.0, was_suspected=False)  # over the maximum interval: not sampled
    assert arrivals.mean() == pytest.approx(1.5)
    # phi = t / mean x log10(e) reaches 8 at the deadline
    t = fd.deadline(arrivals, 0.0)
    assert t / arrivals.mean() * math.log10(math.e) == pytest.approx(8.0)


def test_the_monitor_suspects_at_the_detectors_deadline() -> None:
    def silence_until_suspected(monitor: HeartbeatMonitor) -> float:
        for seq in range(50):
            monitor.seen(Heartbeat("a", "i1", seq), now=float(seq))
        t = 49.0
        while not monitor.check(t):
            t += 0.01
        return t - 49.0

    fixed = HeartbeatMonitor(1.0, 3, PeerTable("me"))
    phi = HeartbeatMonitor(1.0, 3, PeerTable("me"), AKKA)
    assert isinstance(fixed.detector, Fixed)
    assert silence_until_suspected(fixed) == pytest.approx(3.0, abs=0.02)
    assert silence_until_suspected(phi) == pytest.approx(4.52, abs=0.03)


def test_a_new_incarnation_starts_a_new_history() -> None:
    table = PeerTable("me")
    monitor = HeartbeatMonitor(1.0, 3, table, AKKA)
    for seq in range(20):
        monitor.seen(Heartbeat("a", "i1", seq), now=seq * 0.5)
    assert len(table.liveness["a"].arrivals.intervals) == 21
    assert monitor.seen(Heartbeat("a", "i2", 0), now=20.0) == "restarted"
    assert list(table.liveness["a"].arrivals.intervals) == [0.75, 1.25]
