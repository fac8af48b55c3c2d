"""Paced rejoins (``recovery.reconnect: batched``): when a node may start a handshake, as pure
logic over a clock it is handed, so tests drive it with a fake clock and a seeded RNG.

Why: after a storm the victims come back together, and each handshakes with every neighbour at
once while every survivor handshakes with each of them; ZeroMQ's own reconnection does not
spread them (libzmq 4.3.5, pyzmq's, doubles ZMQ_RECONNECT_IVL up to ZMQ_RECONNECT_IVL_MAX with
no jitter once the maximum is set, as `fsr.bus.mesh` sets it: measured 50, 100, 200, 400, 500 ms
on every socket; docs/protocols.md), so the mesh's handshakes move in lockstep. Two mechanisms:

* `ConnectBackoff` — the wait of each attempt to one peer before the next, shaped like gRPC's
  connection backoff (grpc/grpc ``doc/connection-backoff.md``: INITIAL_BACKOFF 1 s,
  MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s; ``src/core/lib/backoff/backoff.cc``). The first
  attempt goes at once, as gRPC's ``TryConnect`` does; attempt k waits
  ``min(INITIAL x MULTIPLIER^k, MAX)`` ± JITTER of it for its answer before attempt k + 1.
  Deviation: gRPC leaves its first wait unjittered (``BackOff::NextAttemptTime``, ``initial_``);
  fsr jitters every wait, so that first retries started by one wave disperse too — the doc
  asks that "connection backoffs started at the same time disperse". Every time is scaled by
  ``scenario.failure_scale``. The jitter comes from a `random.Random` seeded with the
  scenario's seed, the node and the peer, so a run's draws for each pair are reproducible.
* `Admission` — a node's admission limit on handshakes, after Consul's limits on connection
  churn: a token bucket (``rate`` a second, ``burst`` deep, as Consul's client RPC limiter,
  golang.org/x/time/rate's ``rate.NewLimiter(RPCRateLimit, RPCMaxBurst)`` in
  hashicorp/consul ``agent/consul/client.go``) whose default rate is Consul's budget of new
  rebalancing connections a server takes a second (``newRebalanceConnsPerSecPerServer = 64``,
  ``agent/router/manager.go``), and a cap of ``burst`` handshakes in progress at once, after
  Consul's cap on one client's concurrent connections (``limits.rpc_max_conns_per_client =
  100``, ``agent/config/default.go``). Deviations: Consul *refuses* what is over its limits
  (``ErrRPCRateExceeded``, a closed connection); a handshake over fsr's limit waits in a FIFO
  queue instead, as the handshake is the only way back into the mesh. Consul limits the
  receiving server (by pacing every client: ``lib.RateScaledInterval``); fsr limits the node
  that starts a handshake, the side that can wait. The bucket's depth and the cap on handshakes
  in progress are one knob (``recovery.burst``). The rate and burst are a node's capacity, not
  times of a design, so ``failure_scale`` leaves them alone.

A handshake is *in progress* from its attempt going on the wire until its answer (the node's
``handshake_done`` of the peer) or until its backoff wait runs out, whichever is first: exactly
what the log shows (``handshake_start`` with ``sent``, then ``handshake_deferred`` with why
``backoff`` and the wait), so the limit can be checked from the log alone
(`fsr.metrics.reconnect`). An attempt the transport refuses (no live link yet: ``sent`` false)
gives its token back and holds no slot.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, replace

from fsr.config.schema import Config

# gRPC's connection backoff (grpc/grpc doc/connection-backoff.md)
INITIAL_BACKOFF = 1.0  # s
MULTIPLIER = 1.6
JITTER = 0.2
MAX_BACKOFF = 120.0  # s
# Consul's limits on connection churn
RATE = 64.0  # handshakes a second: newRebalanceConnsPerSecPerServer (agent/router/manager.go)
BURST = 100  # limits.rpc_max_conns_per_client (agent/config/default.go)


@dataclass(frozen=True)
class ConnectBackoff:
    """gRPC's connection backoff; `wait(k, rng)` is how long attempt k (0-based) waits for its
    answer before attempt k + 1 starts."""

    initial: float = INITIAL_BACKOFF
    multiplier: float = MULTIPLIER
    jitter: float = JITTER
    maximum: float = MAX_BACKOFF

    def scaled(self, factor: float) -> ConnectBackoff:
        """Every time times `factor` (``scenario.failure_scale``)."""
        return replace(self, initial=self.initial * factor, maximum=self.maximum * factor)

    def base(self, attempt: int) -> float:
        """The backoff before jitter: gRPC's ``current_backoff`` after `attempt` failures."""
        if attempt <= 0:
            return min(self.initial, self.maximum)
        # the exponent is capped so a long-lived loop cannot overflow the float
        grown = self.initial * self.multiplier ** min(attempt, 1024)
        return min(grown, self.maximum) if math.isfinite(grown) else self.maximum

    def wait(self, attempt: int, rng: random.Random) -> float:
        """The backoff ± `jitter` of it, uniformly (gRPC: ``UniformRandom(-JITTER x b,
        JITTER x b)``, added after the cap, as gRPC does)."""
        b = self.base(attempt)
        return b + rng.uniform(-self.jitter * b, self.jitter * b)


class TokenBucket:
    """`rate` tokens a second up to `burst`, full at the start (golang.org/x/time/rate's
    limiter, as Consul uses it)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket: rate {rate} and burst {burst} must be positive")
        self.rate, self.burst = rate, burst
        self._tokens, self._stamp = float(burst), now

    def tokens(self, now: float) -> float:
        """The tokens the bucket holds at `now` (a clock that went back adds nothing)."""
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        return self._tokens

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        have = self.tokens(now)
        return 0.0 if have >= 1.0 else (1.0 - have) / self.rate

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        if self.tokens(now) < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def give_back(self, now: float) -> None:
        """Return a token taken for an attempt that never went out."""
        self._tokens = min(float(self.burst), self.tokens(now) + 1.0)


class Admission:
    """A node's admission of handshake attempts: a token bucket, at most `burst` attempts in
    progress, and a FIFO queue of the attempts waiting for either."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.bucket = TokenBucket(rate, burst, now)
        self.burst = burst
        self.in_progress: dict[str, float] = {}  # peer -> when its attempt's wait runs out
        # (peer, its loop, attempt) waiting, in order; `fsr.agents.links` skips ended loops
        self.queue: deque[tuple[str, int, int]] = deque()

    def wait(self, now: float) -> float:
        """0 when an attempt may start now; the seconds until a token when one is missing; inf
        when every slot is held (one frees at an answer or at an attempt's deadline)."""
        self.expire(now)
        if len(self.in_progress) >= self.burst:
            return math.inf
        return self.bucket.wait(now)

    def start(self, peer: str, now: float) -> bool:
        """Admit an attempt to `peer` now, taking a token and a slot; False if it may not go."""
        if self.wait(now) > 0 or not self.bucket.take(now):
            return False
        self.in_progress[peer] = math.inf  # its deadline is set once it is on the wire
        return True

    def sent(self, peer: str, deadline: float) -> None:
        """The attempt went out: it holds its slot until its answer or `deadline`."""
        self.in_progress[peer] = deadline

    def refused(self, peer: str, now: float) -> None:
        """The transport refused the attempt (no live link): its token and slot come back."""
        self.in_progress.pop(peer, None)
        self.bucket.give_back(now)

    def release(self, peer: str) -> bool:
        """The attempt to `peer` is over (answered, or its wait ran out); whether it held a slot."""
        return self.in_progress.pop(peer, None) is not None

    def expire(self, now: float) -> None:
        """Free the slots of attempts whose wait ran out by `now`."""
        for peer in [p for p, deadline in self.in_progress.items() if deadline <= now]:
            del self.in_progress[peer]


@dataclass(frozen=True)
class Pacing:
    """``recovery`` of the config, for one run: the backoff (already scaled) and the limits."""

    backoff: ConnectBackoff
    rate: float
    burst: int
    seed: int

    def rng(self, node: str, peer: str) -> random.Random:
        """The jitter's source for `node`'s attempts to `peer`: seeded by the scenario's seed,
        the node and the peer, so each pair's draws are the same in every run of the seed."""
        return random.Random(f"fsr.pacing/{self.seed}/{node}/{peer}")


def pacing_of(cfg: Config) -> Pacing | None:
    """``recovery`` of the config as a node's links pace handshakes (None: ``immediate``)."""
    r = cfg.recovery
    if r.reconnect != "batched":
        return None
    backoff = ConnectBackoff(r.initial_backoff, r.multiplier, r.jitter, r.max_backoff)
    return Pacing(backoff.scaled(cfg.scenario.failure_scale), r.rate, r.burst, cfg.scenario.seed)


__all__ = ["BURST", "INITIAL_BACKOFF", "JITTER", "MAX_BACKOFF", "MULTIPLIER", "RATE", "Admission",
           "ConnectBackoff", "Pacing", "TokenBucket", "pacing_of"]
