"""Paced rejoins as pure logic (`fsr.agents.pacing`): gRPC's backoff with a seeded RNG, the token
bucket and the admission limit on a fake clock. Each assertion is one the code could break."""

from __future__ import annotations

import math
import random

import pytest

from fsr.agents.pacing import Admission, ConnectBackoff, Pacing, TokenBucket


def test_backoff_grows_by_the_multiplier_and_stops_at_the_maximum() -> None:
    b = ConnectBackoff()  # gRPC: 1 s, x 1.6, cap 120 s
    assert [round(b.base(k), 6) for k in range(4)] == [1.0, 1.6, 2.56, 4.096]
    assert b.base(10) == pytest.approx(1.6 ** 10)  # 109.95: still under the cap
    assert b.base(11) == 120.0 and b.base(10 ** 6) == 120.0


def test_backoff_jitter_stays_within_its_share_and_spreads_both_ways() -> None:
    b, rng = ConnectBackoff(), random.Random(7)
    for k in (0, 3, 11):
        waits = [b.wait(k, rng) for _ in range(2000)]
        base = b.base(k)
        assert all(0.8 * base <= w <= 1.2 * base for w in waits)
        # not one-sided, not degenerate: both halves of the band are used
        assert min(waits) < 0.85 * base and max(waits) > 1.15 * base
    # the cap applies before the jitter, as gRPC's: a capped wait may reach 1.2 x the cap
    assert max(b.wait(50, rng) for _ in range(2000)) > 120.0


def test_backoff_without_jitter_is_exact_and_scaling_scales_every_time() -> None:
    b = ConnectBackoff(jitter=0.0).scaled(0.25)
    assert [b.wait(k, random.Random(0)) for k in range(3)] == pytest.approx([0.25, 0.4, 0.64])
    assert b.base(99) == 30.0  # 120 s x 0.25
    assert b.multiplier == 1.6 and b.jitter == 0.0  # not times: unscaled


def test_jitter_draws_are_reproducible_per_seed_node_and_peer() -> None:
    p = Pacing(ConnectBackoff(), 64.0, 100, seed=42)

    def draws(seed: int, node: str, peer: str) -> list[float]:
        rng = Pacing(p.backoff, 64.0, 100, seed).rng(node, peer)
        return [p.backoff.wait(k, rng) for k in range(5)]

    assert draws(42, "agent_1", "agent_2") == draws(42, "agent_1", "agent_2")
    others = [draws(43, "agent_1", "agent_2"), draws(42, "agent_3", "agent_2"),
              draws(42, "agent_1", "agent_3"), draws(42, "agent_2", "agent_1")]
    assert all(o != draws(42, "agent_1", "agent_2") for o in others)


def test_waits_started_together_disperse() -> None:
    # the doc's demand: backoffs started at the same time disperse. 100 pairs' first waits
    p = Pacing(ConnectBackoff(), 64.0, 100, seed=1)
    first = sorted(p.backoff.wait(0, p.rng("agent_0", f"agent_{i}")) for i in range(1, 101))
    assert first[-1] - first[0] > 0.3  # spread over most of 0.8..1.2 s
    assert len({round(w, 4) for w in first}) > 95  # 0.1 ms apart


def test_bucket_starts_full_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(100.0) == pytest.approx(0.25)
    assert not bucket.take(100.2)  # 0.8 of a token
    assert bucket.take(100.25)
    assert bucket.tokens(200.0) == 3.0  # never more than the burst
    bucket.give_back(200.0)
    assert bucket.tokens(200.0) == 3.0


def test_bucket_admits_at_most_burst_plus_rate_times_the_span() -> None:
    bucket, now, taken = TokenBucket(rate=10.0, burst=5, now=0.0), 0.0, []
    while now < 3.0:  # asking every millisecond, for 3 s
        if bucket.take(now):
            taken.append(now)
        now += 0.001
    assert len(taken) == pytest.approx(5 + 10 * 3.0, abs=1)
    for i in range(len(taken)):
        for j in range(i, len(taken)):
            assert j - i + 1 <= 5 + 10 * (taken[j] - taken[i]) + 1e-9


def test_a_clock_that_goes_back_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.take(10.0)
    assert bucket.tokens(5.0) == 0.0 and not bucket.take(9.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_bucket_refuses_limits_that_admit_nothing(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, 0.0)


def test_admission_holds_burst_attempts_in_progress_at_most() -> None:
    adm = Admission(rate=1000.0, burst=2, now=0.0)  # tokens aplenty: the slots decide
    assert adm.start("a", 0.0) and adm.start("b", 0.0)
    adm.sent("a", 1.0)
    adm.sent("b", 2.0)
    assert adm.wait(0.5) == math.inf and not adm.start("c", 0.5)
    assert adm.release("a") and not adm.release("a")  # a's answer: one slot free
    assert adm.start("c", 0.6)
    adm.sent("c", 5.0)
    assert not adm.start("d", 1.9)
    assert adm.start("d", 2.0)  # b's wait ran out at 2.0: its slot is free
    assert sorted(adm.in_progress) == ["c", "d"]


def test_admission_waits_for_a_token_when_slots_are_free() -> None:
    adm = Admission(rate=2.0, burst=2, now=0.0)
    assert adm.start("a", 0.0) and adm.start("b", 0.0)
    adm.release("a")
    adm.release("b")
    assert adm.wait(0.0) == pytest.approx(0.5)  # two slots free, no token until 0.5 s
    assert not adm.start("c", 0.4) and adm.start("c", 0.5)


def test_a_refused_attempt_returns_its_token_and_slot() -> None:
    adm = Admission(rate=0.001, burst=1, now=0.0)
    assert adm.start("a", 0.0)
    adm.refused("a", 0.0)  # no live link: nothing went out
    assert adm.in_progress == {} and adm.start("b", 0.0)
