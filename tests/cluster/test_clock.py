"""Cristian's algorithm (`fsr.cluster.clock`): the sample with the smallest round trip, and a
real measurement of a clock in another process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from fsr.cluster.clock import best_offset, measure


def test_the_smallest_round_trip_gives_the_offset() -> None:
    samples = [(10.0, 12.0, 10.4), (20.0, 21.55, 20.1), (30.0, 33.0, 30.3)]
    best = best_offset(samples)
    assert best.offset_s == pytest.approx(1.5)  # 21.55 - (20 + 20.1) / 2
    assert best.error_s == pytest.approx(0.05) and best.rtt_s == pytest.approx(0.1)
    assert best.samples == 3


def test_a_sample_whose_local_clock_stepped_back_is_left_out() -> None:
    best = best_offset([(10.0, 11.0, 9.0), (20.0, 21.2, 20.4)])
    assert best.offset_s == pytest.approx(1.0) and best.samples == 2


def test_no_sample_no_offset() -> None:
    with pytest.raises(ValueError):
        best_offset([])
    with pytest.raises(ValueError):
        best_offset([(10.0, 11.0, 9.0)])
    with pytest.raises(ValueError):
        measure(lambda: 0.0, samples=0)


def test_measure_reads_the_remote_clock_between_two_local_reads() -> None:
    local = iter([0.0, 0.3, 1.0, 1.1, 2.0, 2.2])  # round trips 0.3, 0.1, 0.2
    remote = iter([5.1, 6.05, 7.1])
    got = measure(lambda: next(remote), samples=3, now=lambda: next(local))
    assert (got.offset_s, got.error_s, got.rtt_s) == pytest.approx((5.0, 0.05, 0.1))
    assert got.samples == 3


# a clock 0.25 s ahead of this one, in another process: one reading per line asked
AHEAD = """
import sys, time
for _ in sys.stdin:
    sys.stdout.write(repr(time.time() + 0.25) + "\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def remote() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", AHEAD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    yield proc
    proc.kill()
    proc.wait()


def test_a_clock_in_another_process_is_measured_within_its_bound(
        remote: subprocess.Popen[str]) -> None:
    assert remote.stdin is not None and remote.stdout is not None
    stdin, stdout = remote.stdin, remote.stdout

    def read() -> float:
        stdin.write("\n")
        stdin.flush()
        return float(stdout.readline())

    read()  # the interpreter's start-up is not a round trip
    got = measure(read, samples=8)
    assert got.samples == 8 and got.error_s == got.rtt_s / 2 > 0
    # the remote read happened inside the round trip, so the offset is off by at most half of
    # it; 1 µs more for the float arithmetic on unix times (an ulp is ~0.24 µs)
    assert abs(got.offset_s - 0.25) <= got.error_s + 1e-6
