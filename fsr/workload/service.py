"""Service times: how long one unit of an agent's work takes — a stage's tool call (extract,
triple, reason) or a lookup (lookup_fragment; the search stage's work is its lookups).

A service time is load under test, not a measurement. The agent draws it when a work slot takes
the work, holds the slot that long off its event loop (`fsr.agents.work`), and logs the work's
start and end; every figure is read from those logged events, never from the draw.

Forms (config ``workload.service_time``):

* ``{dist: none}`` — no emulated time: offline tools answer in microseconds, inline;
* ``{dist: fixed, seconds: S}``;
* ``{dist: lognormal, median: M, p95: Q}`` — ln T ~ N(ln M, σ²), σ = ln(Q / M) / z(0.95);
* ``{dist: replay, log: PATH}`` — the per-kind latencies recorded in an earlier run's log
  (`samples_from_log`: each work's ``work_start`` to its ``stage_done`` / ``lookup_done``), drawn
  with replacement; a kind the log has no sample of takes no time (an ``openai`` run's lookups
  are offline and inline). The samples are read once, when the config is loaded, and travel in
  the resolved config (``samples``), so every agent draws from the same list.

The default is LLM-like: the end-to-end latency of a hosted 70B chat model answering 150 tokens
to a 550-token prompt, as the LLMPerf leaderboard measured it (ray-project/llmperf-leaderboard,
``raw_data/summary/anyscale_70b.json``, Llama-2-70B-chat, 5 concurrent requests: p50 2.26 s,
p95 3.13 s).

Draws are seeded by the work's identity (seed, task, kind, executing node, attempt), not by
arrival order, so the same task meets the same service times under every protocol of a paired
comparison.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsr import events as ev

DISTS = ("none", "fixed", "lognormal", "replay")
KINDS = ("lookup", "extract", "triple", "reason")  # the units of work a service time applies to
Z95 = 1.6448536269514722  # the standard normal's 0.95 quantile
DEFAULT: dict[str, Any] = {"dist": "lognormal", "median": 2.26, "p95": 3.13}
SOURCE = ("LLMPerf leaderboard, ray-project/llmperf-leaderboard raw_data/summary/anyscale_70b."
          "json (Llama-2-70B-chat, 550 input / 150 output tokens): end-to-end p50 2.26 s, "
          "p95 3.13 s")


class ServiceTimeError(ValueError):
    """A bad ``workload.service_time``: `part` is the key at fault ("" for the whole)."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(problem)
        self.part = part


@dataclass(frozen=True)
class ServiceTime:
    dist: str = "none"
    seconds: float = 0.0  # fixed
    median: float = 0.0  # lognormal
    p95: float = 0.0  # lognormal
    log: str | None = None  # replay: the log the samples came from
    samples: dict[str, tuple[float, ...]] = field(default_factory=dict)  # replay: kind -> s

    @property
    def emulated(self) -> bool:
        """Whether work takes an emulated time at all (otherwise it runs inline)."""
        return self.dist != "none"

    def draw(self, kind: str, key: str) -> float:
        """Seconds of one unit of work of `kind`, drawn from a generator seeded by `key`."""
        if self.dist == "fixed":
            return self.seconds
        if self.dist == "lognormal":
            rng = random.Random(key)
            return self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0))
        if self.dist == "replay":
            pool = self.samples.get(kind)
            return random.Random(key).choice(pool) if pool else 0.0
        return 0.0

    @property
    def sigma(self) -> float:
        return math.log(self.p95 / self.median) / Z95 if self.dist == "lognormal" else 0.0

    def mean(self, kind: str) -> float:
        if self.dist == "fixed":
            return self.seconds
        if self.dist == "lognormal":
            return self.median * math.exp(self.sigma ** 2 / 2)
        if self.dist == "replay":
            pool = self.samples.get(kind, ())
            return sum(pool) / len(pool) if pool else 0.0
        return 0.0

    def quantile95(self) -> float:
        """The 95th percentile of a unit of work, over every kind (nearest rank for replay)."""
        if self.dist == "fixed":
            return self.seconds
        if self.dist == "lognormal":
            return self.p95
        if self.dist == "replay":
            pool = sorted(s for v in self.samples.values() for s in v)
            return pool[max(0, math.ceil(0.95 * len(pool)) - 1)] if pool else 0.0
        return 0.0

    def to_dict(self) -> dict[str, Any]:
        if self.dist == "fixed":
            return {"dist": "fixed", "seconds": self.seconds}
        if self.dist == "lognormal":
            return {"dist": "lognormal", "median": self.median, "p95": self.p95}
        if self.dist == "replay":
            return {"dist": "replay", "log": self.log,
                    "samples": {k: list(v) for k, v in self.samples.items()}}
        return {"dist": "none"}


def _positive(raw: dict[str, Any], key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
            or not math.isfinite(value):
        raise ServiceTimeError(key, f"must be a number > 0 (got {value!r})")
    return float(value)


def parse(raw: Any) -> ServiceTime:
    """A `ServiceTime` from its config form; a replay without ``samples`` reads its log now."""
    if isinstance(raw, ServiceTime):
        return raw
    if not isinstance(raw, dict) or "dist" not in raw:
        raise ServiceTimeError("", f"must be a mapping with 'dist' (one of {', '.join(DISTS)})")
    dist = raw["dist"]
    allowed = {"none": {"dist"}, "fixed": {"dist", "seconds"},
               "lognormal": {"dist", "median", "p95"},
               "replay": {"dist", "log", "samples"}}.get(dist)
    if allowed is None:
        raise ServiceTimeError("dist", f"must be one of {', '.join(DISTS)} (got {dist!r})")
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ServiceTimeError(extra[0], f"unknown key for dist {dist} "
                               f"(known: {', '.join(sorted(allowed))})")
    if dist == "fixed":
        return ServiceTime("fixed", seconds=_positive(raw, "seconds"))
    if dist == "lognormal":
        median, p95 = _positive(raw, "median"), _positive(raw, "p95")
        if p95 < median:
            raise ServiceTimeError("p95", f"must be >= median ({median:g}) "
                                          f"(got {raw['p95']!r})")
        return ServiceTime("lognormal", median=median, p95=p95)
    if dist == "replay":
        log = raw.get("log")
        if not isinstance(log, str) or not log:
            raise ServiceTimeError("log", f"must name a run's event log (got {log!r})")
        samples = raw.get("samples")
        if samples is None:
            if not Path(log).is_file():
                raise ServiceTimeError("log", f"no such file: {log}")
            samples = samples_from_log(log)
            if not any(samples.values()):
                raise ServiceTimeError("log", f"{log} records no work with a start and an end")
        if not isinstance(samples, dict) or any(
                k not in KINDS or not isinstance(v, list | tuple)
                or any(isinstance(s, bool) or not isinstance(s, int | float) or s < 0
                       for s in v) for k, v in samples.items()):
            raise ServiceTimeError("samples", "must map work kinds to lists of seconds >= 0")
        return ServiceTime("replay", log=log,
                           samples={k: tuple(float(s) for s in v) for k, v in samples.items()})
    return ServiceTime("none")


def samples_from_log(path: str | Path) -> dict[str, list[float]]:
    """Per kind, the seconds each unit of work took in a recorded run: from its ``work_start``
    to its ``stage_done`` (a stage) or ``lookup_done`` (a lookup), matched per (node, task,
    kind) in log time order. A log written before work slots existed has no ``work_start``:
    its stages are timed from ``stage_exec`` instead (a stage then includes its wait for a
    slot)."""
    from fsr.eventlog import read_events  # the log reader; service.py is otherwise pure

    events, _ = read_events(path)
    started: dict[tuple[str, Any, str], list[float]] = defaultdict(list)
    has_start = any(e["event"] == ev.WORK_START for e in events)
    start_event = "work_start" if has_start else "stage_exec"
    out: dict[str, list[float]] = {k: [] for k in KINDS}
    for e in events:
        name = e["event"]
        kind = "lookup" if name in ("lookup_done",) else e.get("stage")
        if name == start_event and e.get("stage") in KINDS:
            started[(e["node"], e.get("task"), e["stage"])].append(e["ts"])
        elif name in ("stage_done", "lookup_done") and kind in KINDS:
            opened = started.get((e["node"], e.get("task"), kind))
            if opened:
                out[kind].append(round(e["ts"] - opened.pop(0), 6))
    return {k: v for k, v in out.items() if v}


def capacity(roles: list[list[str]], replication: int, slots: int,
             service: ServiceTime) -> float | None:
    """Tasks per second the mesh serves when its busiest agent has every slot busy (None: the
    work takes no time). Per task, each agent of a role does its share of that role's stage
    (search's own work is its lookups), and every agent its share of the lookups: a search
    covers the document with about ceil(N / replication) holders, itself among them."""
    n = len(roles)
    if n == 0 or not service.emulated:
        return None
    lookups = math.ceil(n / min(replication, n))
    holders = {r: sum(r in rs for rs in roles) for rs in roles for r in rs}
    busiest = max(lookups / n * service.mean("lookup")
                  + sum(service.mean(r) / holders[r] for r in rs if r in KINDS)
                  for rs in roles)
    return slots / busiest if busiest > 0 else None


def from_flag(text: str) -> dict[str, Any]:
    """The config form of ``--service-time``: ``none``, ``fixed:S``, ``lognormal:MEDIAN:P95``
    or ``replay:LOG`` (checked later, as the config value it becomes)."""
    dist, _, rest = text.partition(":")
    if dist == "fixed":
        return {"dist": dist, "seconds": _flag_number(rest)}
    if dist == "lognormal":
        median, _, p95 = rest.partition(":")
        return {"dist": dist, "median": _flag_number(median), "p95": _flag_number(p95)}
    if dist == "replay":
        return {"dist": dist, "log": rest}
    return {"dist": dist}


def _flag_number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # the config check names it
