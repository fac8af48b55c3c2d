"""Hedged requests (``recovery.hedge: pNN``): predictive recovery that can be measured.

Dean and Barroso, "The Tail at Scale" (CACM 56(2), 2013), *hedged requests*: send the request
to one replica and, once it has been outstanding for longer than the NNth percentile of the
latencies of its class, send a copy to another replica; use whichever answers first and cancel
the other. A class is a task stage (search, extract, triple, reason) as seen by the entry agent
that sends it, where a replica is another live agent of the stage's role
(`fsr.agents.pipeline.TaskRun`); or the lookups a search agent sends, where a replica is a cover
of the same fragments by other holders (`fsr.agents.lookups.SearchRun`: a search whose lookup
waits on a stopped holder would otherwise wait for it whichever search agent runs it). A stuck
or dead peer is then worked around after the class's tail latency rather than after the
protocol's detection; the price is the extra work, which ``duplicate_work_ratio`` counts for
stages (cause ``hedge``) and ``details.duplicate_work.lookups`` for lookups.

Deviations, and why: the paper cancels the loser at the server ("tied requests"); fsr forgets it
at the client (the hop ends as ``hop_failed`` with reason ``hedged``, its late answer is a stale
reply) and sends no cancel message, since not every protocol here has one — so the loser's work
runs to its end and shows as duplicate work. A class hedges only once it has seen
`MIN_SAMPLES` answers (the percentile of a few is noise), over its last `WINDOW` answers; a
lookup is hedged only by holders covering all of its fragments (a copy that could answer less is
not sent).
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 200  # the latest answered hops per stage whose latency sets the percentile
MIN_SAMPLES = 10  # below it, no hedge; at 10 the nearest-rank p95 is the slowest answer seen


class Hedging:
    def __init__(self, quantile: float) -> None:
        self.quantile = quantile
        self.latencies: dict[str, deque[float]] = {}

    def observe(self, stage: str, seconds: float) -> None:
        self.latencies.setdefault(stage, deque(maxlen=WINDOW)).append(seconds)

    def delay(self, stage: str) -> float | None:
        """How long a hop of `stage` waits before it is hedged (nearest rank), or None while
        the stage has fewer than `MIN_SAMPLES` answers."""
        seen = self.latencies.get(stage)
        if seen is None or len(seen) < MIN_SAMPLES:
            return None
        ordered = sorted(seen)
        return ordered[max(0, math.ceil(self.quantile * len(ordered)) - 1)]
