"""Lifeguard (``heartbeat.detector: lifeguard``, with ``membership: swim``): SWIM that doubts
itself before it doubts others (Dadgar, Phillips, Currey, "Lifeguard: Local Health Awareness for
More Accurate Failure Detection", arXiv 1707.00788), as HashiCorp memberlist implements it.

* **Local health** (memberlist ``awareness.go``; the deltas from ``state.go`` ``probeNode`` and
  ``refute``): a score from 0 to AwarenessMaxMultiplier − 1 (``config.go``: 8); a probe answered
  lowers it by one, a probe that went unanswered raises it by one, and so does having to refute a
  suspicion of oneself. The probe interval is multiplied by score + 1, so a node that is slow
  itself (starved of CPU, its own acks late) probes, and so suspects, less often. As memberlist,
  the ack timeout is not scaled. fsr's SWIM has no nack message, so an unanswered probe costs
  one point — memberlist's rule for probes whose helpers do not nack.
* **Suspicion timeout** (memberlist ``suspicion.go``, ``util.go`` ``suspicionTimeout``,
  ``state.go`` ``suspectNode``): min = SuspicionMult (4) x max(1, log10 n) x interval, max =
  SuspicionMaxTimeoutMult (6) x min. A new suspicion waits max, or min when fewer than k = 4 − 2
  = 2 other members could confirm it (n − 2 < k); each independent confirmation (a suspect
  update from another member) shortens it to max − log(c + 1) / log(k + 1) x (max − min), so k
  confirmations bring it down to min. The suspecter that started it is not counted.

Pure arithmetic over timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

AWARENESS_MAX = 8  # memberlist config.go AwarenessMaxMultiplier
SUSPICION_MAX_MULT = 6  # memberlist config.go SuspicionMaxTimeoutMult


@dataclass
class Awareness:
    score: int = 0

    def apply(self, delta: int) -> bool:
        """Add `delta`, held to 0 .. AWARENESS_MAX − 1; whether the score changed."""
        before = self.score
        self.score = min(max(self.score + delta, 0), AWARENESS_MAX - 1)
        return self.score != before

    def scale(self, timeout: float) -> float:
        return timeout * (self.score + 1)


@dataclass
class Suspicion:
    """One member's suspicion timer: it started at `start` and ends at `deadline`."""

    start: float
    k: int  # confirmations that bring the timeout down to its minimum
    least: float  # memberlist's min
    most: float  # memberlist's max
    confirmations: set[str] = field(default_factory=set)  # who suspected it; the first is not
    deadline: float = 0.0                                   # counted

    @classmethod
    def begin(cls, origin: str, now: float, least: float, members: int,
              suspicion_mult: int) -> Suspicion:
        """A new suspicion by `origin` in a group of `members` (this node included)."""
        k = suspicion_mult - 2
        if members - 2 < k:
            k = 0  # too few others to confirm it: the minimum from the start
        s = cls(now, k, least, SUSPICION_MAX_MULT * least, {origin})
        s.deadline = now + (s.most if k >= 1 else s.least)
        return s

    def confirm(self, origin: str) -> bool:
        """Another member suspects it too; whether that shortened the timer."""
        if len(self.confirmations) - 1 >= self.k or origin in self.confirmations:
            return False
        self.confirmations.add(origin)
        n = len(self.confirmations) - 1
        frac = math.log(n + 1.0) / math.log(self.k + 1.0)
        timeout = math.floor(1000.0 * (self.most - frac * (self.most - self.least))) / 1000.0
        self.deadline = self.start + max(timeout, self.least)
        return True
