"""Failure detectors over the heartbeat channel: when a silent peer becomes suspected.

A detector sees each heartbeat's arrival (`arrived`) and answers one question: past what time is
the peer suspected if nothing more is heard (`deadline`)? `HeartbeatMonitor` keeps that deadline
in the peer's `Liveness` record and suspects the peer once the clock passes it, so the event loop
sleeps exactly until the next deadline and no detector polls.

``heartbeat.detector``:

* ``fixed`` — Paranoid Pirate (ZeroMQ Guide ch. 4): ``interval x liveness`` after the last
  heartbeat, whatever the history.
* ``phi`` — φ accrual (Hayashibara et al., "The φ Accrual Failure Detector", SRDS 2004) as Akka
  implements it: φ(t) = −log10(1 − F(t)), F the normal CDF (its logistic approximation) with the
  mean and standard deviation of the last `max_sample_size` inter-arrival times, the mean raised
  by the acceptable heartbeat pause and the deviation held at least `min_std`; the peer is
  suspected once φ crosses `threshold`. Source: akka-remote
  ``src/main/scala/akka/remote/PhiAccrualFailureDetector.scala`` (the bootstrap history of two
  intervals, mean ± mean/4 around the first-heartbeat estimate = heartbeat-interval; an interval
  that ends a suspicion is not sampled) and akka-cluster ``src/main/resources/reference.conf``
  (``akka.cluster.failure-detector``: threshold 8.0, min-std-deviation 100 ms,
  acceptable-heartbeat-pause 3 s, max-sample-size 1000, heartbeat-interval 1 s). fsr states the
  pause and the minimum deviation in heartbeat intervals (3 and 0.1: Akka's at its 1 s interval),
  so a compressed timeline (``--quick``) compresses them alike. φ's crossing time is exact: the
  logistic approximation's inverse is a depressed cubic, solved once per threshold.
* ``phi-exp`` — Cassandra's exponential variant (apache/cassandra
  ``src/java/org/apache/cassandra/gms/FailureDetector.java``: ``ArrivalWindow``, ``PHI_FACTOR =
  1 / ln 10``): φ(t) = t / mean x log10(e), the mean of the last 1000 intervals, the window
  started at 2 x the interval (``getInitialValue``: 2 x the gossip interval) and an interval over
  that maximum not sampled (``getMaxInterval``); suspected past `threshold` (cassandra.yaml
  ``phi_convict_threshold: 8``). At threshold 8 that is 18.4 mean intervals of silence.

Pure arithmetic over timestamps; nothing here reads a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from fsr.protocols.peers import Arrivals

DETECTORS = ("fixed", "phi", "phi-exp")


class Detector(Protocol):
    def start(self) -> Arrivals | None:
        """A new peer's history (None: the detector keeps none)."""

    def arrived(self, arrivals: Arrivals | None, interval: float, was_suspected: bool) -> None:
        """A heartbeat came `interval` seconds after the previous one."""

    def deadline(self, arrivals: Arrivals | None, last_seen: float) -> float:
        """When the peer is suspected if nothing more is heard."""


@dataclass(frozen=True)
class Fixed:
    timeout: float  # interval x liveness

    def start(self) -> Arrivals | None:
        return None

    def arrived(self, arrivals: Arrivals | None, interval: float, was_suspected: bool) -> None:
        pass

    def deadline(self, arrivals: Arrivals | None, last_seen: float) -> float:
        return last_seen + self.timeout


def phi_of(elapsed: float, mean: float, std: float) -> float:
    """Akka's φ: −log10(1 − F(elapsed)) for N(mean, std), by the logistic approximation of F."""
    y = (elapsed - mean) / std
    e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    return -math.log10(e / (1.0 + e)) if elapsed > mean else -math.log10(1.0 - 1.0 / (1.0 + e))


def phi_crossing(threshold: float) -> float:
    """The y = (elapsed − mean) / std at which `phi_of` reaches `threshold` (> log10 2, φ at the
    mean): the real root of 0.070566 y³ + 1.5976 y − ln((1 − p) / p) = 0, p = 10^−threshold
    (Cardano; the cubic is increasing, so the root is unique)."""
    p = 10.0 ** -threshold
    a, b, c = 0.070566, 1.5976, -math.log((1.0 - p) / p)
    q, r = b / a, c / a  # y³ + q y + r = 0
    s = math.sqrt(r * r / 4 + q ** 3 / 27)
    return math.cbrt(-r / 2 + s) + math.cbrt(-r / 2 - s)


@dataclass(frozen=True)
class PhiAccrual:
    threshold: float
    interval: float  # the first-heartbeat estimate
    pause: float  # acceptable heartbeat pause, seconds
    min_std: float  # seconds
    # (elapsed - mean) / std where phi reaches the threshold: solved once, not per heartbeat
    crossing: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "crossing", phi_crossing(self.threshold))

    def start(self) -> Arrivals:
        arrivals = Arrivals()
        std = self.interval / 4  # Akka's bootstrap: two intervals, mean ± mean / 4
        arrivals.add(self.interval - std)
        arrivals.add(self.interval + std)
        return arrivals

    def arrived(self, arrivals: Arrivals | None, interval: float, was_suspected: bool) -> None:
        if arrivals is not None and not was_suspected:  # Akka: a pause would skew the stats
            arrivals.add(interval)

    def deadline(self, arrivals: Arrivals | None, last_seen: float) -> float:
        assert arrivals is not None
        std = max(arrivals.std(), self.min_std)
        return last_seen + arrivals.mean() + self.pause + self.crossing * std


@dataclass(frozen=True)
class ExponentialAccrual:
    threshold: float
    initial: float  # Cassandra: 2 x the gossip interval; also the longest interval sampled

    def start(self) -> Arrivals:
        arrivals = Arrivals()
        arrivals.add(self.initial)
        return arrivals

    def arrived(self, arrivals: Arrivals | None, interval: float, was_suspected: bool) -> None:
        if arrivals is not None and interval <= self.initial:
            arrivals.add(interval)

    def deadline(self, arrivals: Arrivals | None, last_seen: float) -> float:
        assert arrivals is not None
        return last_seen + self.threshold * math.log(10.0) * arrivals.mean()


class HeartbeatSettings(Protocol):
    """What a detector is made from (the config's ``heartbeat`` section)."""

    interval: float
    liveness: int
    detector: str
    phi_threshold: float
    phi_pause: float
    phi_min_std: float


def detector_for(hb: HeartbeatSettings) -> Detector:
    if hb.detector == "phi":
        return PhiAccrual(hb.phi_threshold, hb.interval, hb.phi_pause * hb.interval,
                          hb.phi_min_std * hb.interval)
    if hb.detector == "phi-exp":
        return ExponentialAccrual(hb.phi_threshold, 2 * hb.interval)
    return Fixed(hb.interval * hb.liveness)  # fixed; and lifeguard, a SWIM detector
