"""A host's clock against the runner's: Cristian's algorithm.

Each host stamps its agents' events with its own wall clock, so a cluster run's log mixes
clocks. The runner reads a host's clock a few times, each read bracketed by two reads of its
own: the host's reading was taken somewhere in that round trip, so taking it at the round trip's
middle is wrong by at most half of it. The sample with the smallest round trip gives the
tightest bound. The runner logs the result as ``clock_offset`` (`fsr.events.CLOCK_OFFSET`), and
`fsr.metrics.clocks` puts the log on the runner's clock with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockOffset:
    """A remote clock minus the local one, in seconds, within ± `error_s`."""

    offset_s: float
    error_s: float  # half the round trip of the sample it came from
    rtt_s: float
    samples: int  # how many round trips were measured


def best_offset(samples: Sequence[tuple[float, float, float]]) -> ClockOffset:
    """The offset from the sample with the smallest round trip. Each sample is (sent, remote,
    received): the local clock before the remote was asked, the remote clock's answer, the
    local clock when it arrived."""
    # a negative round trip means the local clock stepped back mid-sample: it bounds nothing
    usable = [s for s in samples if s[2] >= s[0]]
    if not usable:
        raise ValueError(f"no usable clock sample among {len(samples)}")
    sent, remote, received = min(usable, key=lambda s: s[2] - s[0])
    rtt = received - sent
    return ClockOffset(remote - (sent + received) / 2, rtt / 2, rtt, len(samples))


def measure(remote_clock: Callable[[], float], samples: int = 8,
            now: Callable[[], float] = time.time) -> ClockOffset:
    """Read `remote_clock` `samples` times, each read between two of `now` (the local clock:
    unix seconds, as the log's timestamps), and keep the best sample (`best_offset`)."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    taken = []
    for _ in range(samples):
        sent = now()
        remote = remote_clock()
        received = now()
        taken.append((sent, remote, received))
    return best_offset(taken)


__all__ = ["ClockOffset", "best_offset", "measure"]
