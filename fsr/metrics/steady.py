"""The steady state: when the system settled after the storm, by its tasks, its mesh and its hop
latency — pure functions over a `History`, deterministic (no clock, no randomness; figures
rounded with `r3` / `ms`), so `fsr replay` recomputes them byte for byte.

`steady_state` is the checker of ``steady_state_ms`` (`fsr.metrics.checkers` re-exports it);
`settling_outcome` classifies a run's metrics file for `fsr compare`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import ms, percentile, r3, succeeded, wilson
from fsr.metrics.history import History

# details.steady_state.reason: why steady_state_ms has the value it has (docs/metrics.md)
STEADY_REASONS = ("recovered", "not_disturbed", "never_settled", "too_few_tasks", "no_baseline")
# settling_outcome(): what fsr compare counts, one per run
OUTCOMES = ("settled", "not_settled", "not_disturbed", "too_few_tasks", "no_baseline", "unknown")
LATENCY_BAND = 0.5  # a window's hop-latency p50 may exceed the pre-fault p50 by this share
Z95 = 1.96


# -- the intervals ----------------------------------------------------------------------------
def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu), summed in log space (no overflow at large mu)."""
    if mu <= 0:
        return 1.0
    log_mu = math.log(mu)
    return math.fsum(math.exp(i * log_mu - mu - math.lgamma(i + 1)) for i in range(k + 1))


@lru_cache(maxsize=4096)
def poisson_ci(k: int) -> tuple[float, float]:
    """The exact (Garwood) 95 % interval of a Poisson mean, given a count k: the lower bound
    solves P(X >= k) = 0.025, the upper P(X <= k) = 0.025; by bisection (fixed steps, so the
    same on every replay)."""

    def solve(count: int, target: float) -> float:  # the mu with P(X <= count; mu) = target
        lo, hi = 0.0, count + 10.0 + 10.0 * math.sqrt(count + 1)
        for _ in range(200):
            mid = (lo + hi) / 2
            if _poisson_cdf(count, mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    return (0.0 if k == 0 else solve(k - 1, 0.975)), solve(k, 0.025)


@lru_cache(maxsize=64)
def tasks_needed(band: float) -> int:
    """How many tasks an `auto` steady-state window must hold at the baseline's rate to decide:
    the smallest n from which on (for every larger n too) a window in which at most half the
    band's lower edge of the expected tasks were answered — (1 − band)/2 of n, 45 % at the
    default band 0.1 — is out of band by the throughput rule (its Poisson upper bound below
    (1 − band) × n). 17 at band 0.1, 19 at 0.2. A band of 1 or more never leaves any window
    out: 1."""
    if band >= 1:
        return 1
    edge = 1 - band
    last_failure = 0
    # the test depends on edge × n only, and always holds once edge × n exceeds 40
    for n in range(1, math.ceil(40 / edge) + 2):
        if not poisson_ci(math.floor(edge * n / 2))[1] < edge * n:
            last_failure = n
    return last_failure + 1


def detectable(band: float, n: float, base_ok: float) -> dict[str, Any]:
    """What the rule can see in a window expected to hold n tasks (at the baseline's rate):
    `throughput_at_most` — the highest share of the baseline throughput that is still out of
    band (the largest count whose Poisson upper bound is below (1 − band) × n, over n);
    `success_at_most` — the highest success still out of band below the baseline (the largest
    k / m, m = round(n) tasks, whose Wilson upper bound is below (1 − band) × baseline); null
    when no count is out."""
    count = math.floor(n)
    tp = next((k for k in range(count, -1, -1) if poisson_ci(k)[1] < (1 - band) * n), None)
    m = max(1, round(n))
    ok = next((k for k in range(m, -1, -1)
               if (ci := wilson(k, m)) is not None and ci[1] < (1 - band) * base_ok), None)
    return {"throughput_at_most": None if tp is None or not n else r3(tp / n),
            "success_at_most": None if ok is None else r3(ok / m)}


# -- the window -------------------------------------------------------------------------------
def steady_window(h: History, base_tp: float) -> float:
    """`metrics.steady_window`, or when it is `auto`: the time the pre-fault rate of answered
    tasks takes to answer `tasks_needed` (of `metrics.steady_band`) tasks, at least 1 s and at
    most a third of the post-fault period."""
    m = h.config["metrics"]
    given = m.get("steady_window")
    if given is not None:
        return float(given)
    post = h.end_submit - h.fault
    return max(1.0, min(tasks_needed(float(m["steady_band"])) / base_tp, post / 3))


def _grid(h: History, width: float, step: float) -> list[float]:
    starts, s = [], h.fault
    while s + width <= h.end_submit + 1e-9:
        starts.append(s)
        s += step
    return starts


def _settling(h: History, starts: list[float], out: list[bool],
              times: list[float]) -> tuple[float | None, str]:
    """The settling value and its reason from the windows' out-of-band flags: when settled, the
    first of `times` (sorted task ends, or deliveries) at or after the start of the first window
    from which every later window is in band (that start when none is)."""
    if not any(out):
        return 0.0, "not_disturbed"
    if out[-1]:
        return None, "never_settled"
    start = starts[max(i for i, o in enumerate(out) if o) + 1]
    i = bisect_left(times, start)
    return ms((times[i] if i < len(times) else start) - h.fault), "recovered"


WHY = {
    "recovered": "settled: every window from this one on is in band",
    "not_disturbed": "no window after the fault left the band: the storm disturbed nothing "
                     "the rule can see",
    "never_settled": "the last window is out of band: the system never settled before the end",
    "too_few_tasks": "windows too small to decide",
    "no_baseline": "no baseline to compare with",
}


def steady_state(h: History) -> dict[str, Any]:
    """Settling time, with a `reason` that says what the number means. Baseline: answered
    tasks per second, and success (the share of ended tasks that succeeded by
    `metrics.success`), over the tasks that ended in [t0, fault). Windows (by task end time) of
    `metrics.steady_window` s start at the fault and step by `metrics.steady_step` s while they
    fit before t0 + duration. `auto` window: long enough for the baseline's rate to answer the
    tasks a window needs to decide (`tasks_needed`: 17 at the default `steady_band` 0.1, 19 at
    0.2), at least 1 s, at most a third of the post-fault period.

    A window is *out of band* only when sampling noise cannot explain it: its success's 95 %
    Wilson interval lies wholly outside ±`metrics.steady_band` (relative) of the baseline's
    success, or the 95 % Poisson (exact) interval of its answered count, over its length, lies
    wholly below (1 − `steady_band`) × the baseline throughput. Catch-up rule: throughput above
    the baseline is never held against a window — tasks arrive at a fixed rate, so a burst after
    a stall is the backlog being worked off, which is recovery, not instability.

    What a 17-task window (band 0.1) can and cannot see: it is out on throughput when at most 7
    tasks were answered in it (41 % of the baseline) — a full stall over ~60 % of it — and on
    success, against a baseline of 1.0, when at most 12 of its 17 succeeded (0.706; against 0.5:
    at most 3, 0.176). A few wrong answers (up to 4 of 17 against 1.0), a throughput dip to
    anything above 41 % of the baseline, or a full stall over less than ~60 % of the window are
    within sampling noise and do not move it; `details.steady_state.rule.detects` gives the
    same limits for the run's own window.

    Value and `reason`: `not_disturbed` — no window left the band: 0 (the storm disturbed
    nothing the rule can see); `recovered` — the first task end in the first window from which
    every later window is in band, minus the fault time (the end, not the window's start: a
    window that began in a stall can be in band by the catch-up burst at its end);
    `never_settled` — null: the last window is out of band; `too_few_tasks` — null: fewer
    than `tasks_needed` tasks were answered before the fault, a window at the baseline's rate
    would hold fewer (a short post-fault period, or a short `steady_window`), or no window
    fits; `no_baseline` — null: no pre-fault period, or no task answered in it.
    `disturbance`: the first window after the fault that left the band (null when none did);
    `last_out`: the last one.

    Beside it, from the survivors' own signals: `mesh_settled_ms` (`mesh_settled`) and
    `latency_settled_ms` (`latency_settled`)."""
    m = h.config["metrics"]
    step, band = float(m["steady_step"]), float(m["steady_band"])
    measure = m.get("success", "correct")
    ended = sorted((t for t in h.tasks if t.ended is not None), key=lambda t: t.ended or 0.0)
    ends = [t.ended or 0.0 for t in ended]
    mesh = mesh_settled(h)

    def count(a: float, b: float) -> tuple[int, int, int]:
        inside = ended[bisect_left(ends, a):bisect_left(ends, b)]
        return (len(inside), sum(t.status == "answered" for t in inside),
                sum(succeeded(t, measure) for t in inside))

    def fail(reason: str, why: str, width: float | None = None,
             **extra: Any) -> dict[str, Any]:
        lat = latency_settled(h, width, step) if width else {
            "value": None, "reason": "no_baseline", "why": "no steady-state window"}
        return {"value": None, "reason": reason, "why": why, **extra,
                "mesh_settled_ms": mesh["value"], "latency_settled_ms": lat["value"],
                "mesh": mesh, "latency": lat}

    span = h.baseline_end - h.t0
    if span <= 0:
        return fail("no_baseline", "no pre-fault period to take a baseline from")
    base_n, base_a, base_k = count(h.t0, h.baseline_end)
    if not base_a:
        return fail("no_baseline", "no task answered before the fault")
    base_tp, base_ok = base_a / span, base_k / base_n
    base = {"n": base_n, "answered": base_a, "answered_per_s": r3(base_tp),
            "success": r3(base_ok), "measure": measure}
    need = tasks_needed(band)
    width = steady_window(h, base_tp)
    expected = base_tp * width
    rule = {"band": band, "tasks_needed": need, "window_s": r3(width),
            "auto": m.get("steady_window") is None, "expected_tasks": r3(expected),
            "detects": detectable(band, expected, base_ok)}
    common = {"baseline": base, "rule": rule, "window_s": r3(width)}
    if base_a < need:
        return fail("too_few_tasks", f"{base_a} task(s) answered before the fault: a baseline "
                    f"needs {need}", width, **common)
    if expected < need - 1e-9:
        return fail("too_few_tasks", f"a {r3(width)} s window holds {r3(expected)} task(s) at "
                    f"the baseline's rate: it needs {need} to decide", width, **common)
    starts = _grid(h, width, step)
    if not starts:
        return fail("too_few_tasks", "no full window fits between the fault and the end of "
                    "work", width, **common)
    low, high = (1 - band) * base_ok, (1 + band) * base_ok
    out, first_out, last_out = [], None, None
    for a in starts:
        n, answered, k = count(a, a + width)
        ok_ci = wilson(k, n)
        tp_ci = poisson_ci(answered)
        why = []
        if ok_ci is not None and (ok_ci[1] < low or ok_ci[0] > high):
            why.append("success")
        if tp_ci[1] / width < (1 - band) * base_tp:
            why.append("throughput")
        out.append(bool(why))
        if why:
            last_out = {"start_s": r3(a - h.fault), "n": n, "answered": answered,
                        "answered_per_s": r3(answered / width),
                        "answered_per_s_ci95": [r3(tp_ci[0] / width), r3(tp_ci[1] / width)],
                        "success": r3(k / n) if n else None, "success_ci95": ok_ci,
                        "out_by": why}
            first_out = first_out or last_out
    value, reason = _settling(h, starts, out, ends)
    lat = latency_settled(h, width, step)
    return {"value": value, "reason": reason, "why": WHY[reason], **common,
            "windows": len(out), "in_band": out.count(False),
            "disturbance": first_out, "last_out": last_out,
            "mesh_settled_ms": mesh["value"], "latency_settled_ms": lat["value"],
            "mesh": mesh, "latency": lat}


# -- the survivors' own signals ---------------------------------------------------------------
MESH_EVENTS = (ev.PEER_LOST, ev.PEER_SUSPECTED, ev.PEER_RETURNED, ev.HANDSHAKE_DONE)


def mesh_settled(h: History) -> dict[str, Any]:
    """When the mesh's view of the storm settled: the last `peer_lost`, `peer_suspected`,
    `peer_returned` or `handshake_done` caused by the storm — logged by or about a victim, at
    or after that victim's fault time and before the run's `stop` phase (the storm's view is
    already cut where the next storm strikes) — minus the fault time. 0 with reason
    `not_disturbed` when there is none; `settled` otherwise, with the last event and the count
    of each."""
    if not h.fault_injected:
        return {"value": None, "reason": "no_fault", "why": "no fault injected"}
    stop = next((e["ts"] for e in h.of(ev.PHASE)
                 if e.get("name") == "stop" and e["ts"] >= h.fault), math.inf)
    caused = []
    for e in h.of(ev.PEER_LOST, ev.PEER_SUSPECTED, ev.PEER_RETURNED, ev.HANDSHAKE_DONE):
        hit = [h.kills[p] for p in (e["node"], e.get("peer")) if p in h.kills]
        if hit and e["ts"] >= min(hit) and e["ts"] >= h.fault and e["ts"] < stop:
            caused.append(e)
    counts = {name: sum(e["event"] == name for e in caused) for name in MESH_EVENTS}
    if not caused:
        return {"value": 0.0, "reason": "not_disturbed", "events": counts,
                "why": "no membership or handshake event involved a victim after the fault"}
    last = caused[-1]
    return {"value": ms(last["ts"] - h.fault), "reason": "settled", "events": counts,
            "last": {"event": last["event"], "node": last["node"], "peer": last.get("peer"),
                     "t_s": r3(last["ts"] - h.fault)}}


def latency_settled(h: History, width: float, step: float) -> dict[str, Any]:
    """When the hop latency returned within its pre-fault band. Hop latency: a task message's
    first `send` to its `deliver` (`hop_latency`), placed at its delivery. Baseline: the p50
    (nearest rank) of the deliveries in [t0, fault). The steady-state windows (same length and
    step) are out of band when no task message was delivered in them, or their p50 is above
    (1 + 0.5) × the baseline p50; a p50 below the baseline is not held against a window (a
    lighter mesh delivers faster). Value: as `steady_state_ms` — 0 (`not_disturbed`) when no
    window left the band, the first delivery in the first window from which every later one
    is in band minus the fault time (`recovered`), null when the last window is out
    (`never_settled`) or no message was delivered before the fault (`no_baseline`)."""
    times = sorted((d, ms(d - s)) for s, d in h.wire.hop_times())
    at = [d for d, _ in times]

    def within(a: float, b: float) -> list[float]:
        return [lat for _, lat in times[bisect_left(at, a):bisect_left(at, b)]]

    pre = within(h.t0, h.baseline_end)
    base = percentile(pre, 50)
    if base is None:
        return {"value": None, "reason": "no_baseline",
                "why": "no task message delivered before the fault"}
    limit = (1 + LATENCY_BAND) * base
    starts = _grid(h, width, step)
    out, first_out = [], None
    for a in starts:
        p50 = percentile(within(a, a + width), 50)
        out.append(p50 is None or p50 > limit)
        if out[-1] and first_out is None:
            first_out = {"start_s": r3(a - h.fault), "p50_ms": p50}
    info = {"baseline_p50_ms": base, "limit_ms": r3(limit), "n_pre": len(pre),
            "windows": len(out), "disturbance": first_out}
    if not starts:
        return {"value": None, "reason": "too_few_tasks", "why": "no full window fits", **info}
    value, reason = _settling(h, starts, out, at)
    return {"value": value, "reason": reason, **info}


# -- for fsr compare --------------------------------------------------------------------------
_CODE_TO_OUTCOME = {"recovered": "settled", "never_settled": "not_settled",
                    "not_disturbed": "not_disturbed", "too_few_tasks": "too_few_tasks",
                    "no_baseline": "no_baseline"}


def settling_outcome(metrics: dict[str, Any]) -> str:
    """One run's settling, from its metrics file: `settled` (recovered, at steady_state_ms),
    `not_settled` (the last window is out of band), `not_disturbed` (no window left the band),
    `too_few_tasks` (the windows cannot decide), `no_baseline`, or `unknown`. Metrics files
    written before the reason codes: a number is `settled`, a null is read from its reason's
    sentence."""
    detail = (metrics.get("details") or {}).get("steady_state") or {}
    reason = detail.get("reason")
    if reason in _CODE_TO_OUTCOME:
        return _CODE_TO_OUTCOME[reason]
    if metrics.get("steady_state_ms") is not None:
        return "settled"
    text = str(reason or "")
    if "never settled" in text:
        return "not_settled"
    if "no full window" in text:
        return "too_few_tasks"
    if "no task ended before" in text or "no pre-fault period" in text:
        return "no_baseline"
    return "unknown"


def settling_counts(runs: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many runs had each outcome (`OUTCOMES`, in that order, zeros included)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for m in runs:
        counts[settling_outcome(m)] += 1
    return counts


__all__ = ["LATENCY_BAND", "MESH_EVENTS", "OUTCOMES", "STEADY_REASONS", "latency_settled",
           "mesh_settled", "poisson_ci", "settling_counts", "settling_outcome", "steady_state",
           "steady_window", "tasks_needed"]
