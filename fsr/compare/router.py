"""The ProtocolRouter comparison (issue #23): what a router that picks a protocol per role would
gain in a fail storm over the best single protocol — the honest answer to ProtocolBench's claim
(arXiv 2510.17149 v3) that a "ProtocolRouter" cuts fail-storm recovery time by up to 18.1 %.

Pure functions over parsed metrics files (``failstorm_metrics.json``); `benchmarks/router.py`
runs the storms and reads the files.

*What the router chooses from* (`role_scores`): per role, the median time the senders took to
let go of the work the storm caught on a dead agent of that role — the hops outstanding on a
victim at its kill (``details.inflight.hops``, `fsr.metrics.inflight`), by the role of the
victim they were sent to. That is the per-role part of a fail-storm recovery a router can
choose: how fast work stuck on a dead agent of that role is let go and moves on, which is where
the protocols' failure designs differ — and in a mixed mesh a hop is framed in its receiver's
protocol and handled by that protocol's failure design (docs/protocols.md, "Mixed meshes"), so
it is the victim's role that picks the design. A hop never let go (fate ``lost``) counts as
+inf: the work stayed stuck. A hop the victim answered anyway (``answered_by_victim``: its reply
was already on the wire) is left out: there was nothing to let go. A stage hop goes to an agent
of its stage's role, but a lookup goes to a holder of the fragments, an agent of any role — so
the victim's role (`fsr.workload.roles`; an agent holding several speaks its first role's
protocol, as `Config.protocol_of` says), not the stage name, says where a hop went.

*The choice* (`choose_mix`): per role, the protocol with the lowest mean score over the seeds
other than the one judged (leave-one-out: a mix is never chosen on the storm it is judged on).

*The comparison* (`router_table`): on each seed, the mix's outcomes against each single
protocol's and against the best single protocol — chosen, like the mix, from the other seeds, by
the outcome compared — paired by seed (`fsr.compare.stats.paired_diff`); and the mean relative
difference mix / best − 1, the figure the paper's −18.1 % is set against. Every outcome is
lower-is-better.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

from fsr.compare.aggregate import dig
from fsr.compare.report import PAIRED_LEGEND, diff_cell, md_table
from fsr.compare.stats import Interval, PairedDiff, mean_ci, paired_diff
from fsr.metrics.catalogue import BY_KEY
from fsr.workload.roles import ROLES, agent_id, roles_of

Metrics = dict[str, Any]  # a parsed failstorm_metrics.json
Singles = Mapping[str, Mapping[int, Metrics]]  # protocol -> seed -> its single-protocol run
MIX = "mix"  # the mixed run's label among the protocols of a seed's outcomes
# the outcomes compared, by their catalogue key (which gives their path and digits)
OUTCOMES = ("recovery_ms", "steady_state_ms", "failover_ms", "success_rate_drop",
            "let_go_ms_p50", "bytes_reconnect")
FALLBACK = "recovery_ms"  # a role no run had work stuck on: the best single protocol by this
NOTHING_TO_LET_GO = "answered_by_victim"


class Hop(TypedDict):
    """A hop outstanding on a victim at its kill, as ``details.inflight.hops`` lists it."""

    sender: str
    victim: str
    task: str | None
    stage: str
    let_go_ms: float | None
    signal: str | None
    held: bool
    fate: str


class SeedRow(TypedDict):
    """One seed: the mix chosen from the other seeds, and every run's outcomes on this one."""

    seed: int
    mix: dict[str, str]  # role -> protocol
    best: dict[str, str | None]  # outcome -> the best single protocol by it on the other seeds
    outcomes: dict[str, dict[str, float | None]]  # protocol (or MIX) -> outcome -> value


class Compared(TypedDict):
    """One outcome, paired by seed: mix − best single, mix / best − 1 (over the seeds where the
    best's value is above 0) and mix − each single protocol."""

    vs_best: PairedDiff
    relative: Interval
    vs: dict[str, PairedDiff]


class RouterTable(TypedDict):
    protocols: list[str]
    seeds: list[int]
    rows: list[SeedRow]
    compared: dict[str, Compared]


# -- what the router chooses from ------------------------------------------------------------
def role_scores(metrics: Metrics) -> dict[str, float]:
    """Per role with work caught on a dead agent of it: the median `let_go_ms` of those hops
    (+inf for one never let go). Roles with no such hop are absent."""
    n = int(metrics["agent_count"])
    role = {agent_id(i): roles_of(i, n)[0] for i in range(n)}  # the one its protocol is by
    hops: list[Hop] = dig(metrics, ("details", "inflight", "hops")) or []
    times: dict[str, list[float]] = {}
    for hop in hops:
        if hop["fate"] == NOTHING_TO_LET_GO:
            continue
        if hop["victim"] in role:
            ms = math.inf if hop["let_go_ms"] is None else float(hop["let_go_ms"])
            times.setdefault(role[hop["victim"]], []).append(ms)
    return {r: statistics.median(values) for r, values in times.items()}


def outcome(metrics: Metrics, key: str) -> float | None:
    value = dig(metrics, BY_KEY[key].path)
    return None if value is None else float(value)


def outcomes(metrics: Metrics) -> dict[str, float | None]:
    """The figures compared, by their catalogue key (`OUTCOMES`); None where the run has none."""
    return {key: outcome(metrics, key) for key in OUTCOMES}


# -- the choice ------------------------------------------------------------------------------
def others_mean(values: Mapping[int, float | None], seed: int) -> float | None:
    """The mean over the seeds other than `seed` that have a value (+inf if one is +inf)."""
    kept = [v for s, v in values.items() if s != seed and v is not None]
    return statistics.fmean(kept) if kept else None


def lowest(means: Mapping[str, float | None]) -> str | None:
    """The key of the lowest mean, the first listed on a tie; None if no key has one."""
    known = [(v, i, key) for i, (key, v) in enumerate(means.items()) if v is not None]
    return min(known)[2] if known else None


def best_single(singles: Singles, seed: int, metric_key: str) -> str | None:
    """The protocol whose runs on the seeds other than `seed` have the lowest mean of the
    outcome `metric_key` (None: no run has it)."""
    return lowest({p: others_mean({s: outcome(m, metric_key) for s, m in runs.items()}, seed)
                   for p, runs in singles.items()})


def choose_mix(singles: Singles, seed: int, roles: Iterable[str] = ROLES) -> dict[str, str]:
    """Per role, the protocol with the lowest mean `role_scores` over the seeds other than
    `seed`; a role without a score on any protocol gets the best single protocol by `FALLBACK`
    (else the first protocol)."""
    if not singles:
        raise ValueError("no single-protocol runs to choose from")
    scores = {p: {s: role_scores(m) for s, m in runs.items()} for p, runs in singles.items()}
    fallback = best_single(singles, seed, FALLBACK) or next(iter(singles))
    return {role: lowest({p: others_mean({s: sc.get(role) for s, sc in by_seed.items()}, seed)
                          for p, by_seed in scores.items()}) or fallback
            for role in roles}


# -- the comparison --------------------------------------------------------------------------
def router_table(singles: Singles, mixes: Mapping[int, Metrics],
                 seeds: Sequence[int]) -> RouterTable:
    """Per seed the chosen mix and every run's outcomes; per outcome the mix against the best
    single protocol (chosen per seed from the other seeds, by that outcome) and against each."""
    rows: list[SeedRow] = []
    for seed in seeds:
        outs = {p: outcomes(runs[seed]) for p, runs in singles.items() if seed in runs}
        if seed in mixes:
            outs[MIX] = outcomes(mixes[seed])
        rows.append(SeedRow(seed=seed, mix=choose_mix(singles, seed),
                            best={k: best_single(singles, seed, k) for k in OUTCOMES},
                            outcomes=outs))
    compared: dict[str, Compared] = {}
    for key in OUTCOMES:
        mix = column(rows, key, dict.fromkeys(seeds, MIX))
        best = column(rows, key, {r["seed"]: r["best"][key] for r in rows})
        ratios = [mix[s] / best[s] - 1 for s in sorted(mix.keys() & best.keys()) if best[s] > 0]
        compared[key] = Compared(
            vs_best=paired_diff(mix, best), relative=mean_ci(ratios),
            vs={p: paired_diff(mix, column(rows, key, dict.fromkeys(seeds, p))) for p in singles})
    return RouterTable(protocols=list(singles), seeds=list(seeds), rows=rows, compared=compared)


def column(rows: Sequence[SeedRow], key: str,
           labels: Mapping[int, str | None]) -> dict[int, float]:
    """seed -> the outcome `key` of the run labelled `labels[seed]` on it, where it has one."""
    out: dict[int, float] = {}
    for r in rows:
        label = labels.get(r["seed"])
        value = r["outcomes"].get(label, {}).get(key) if label else None
        if value is not None:
            out[r["seed"]] = value
    return out


# -- for the docs ----------------------------------------------------------------------------
def cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def relative_cell(r: Interval) -> str:
    if r["mean"] is None:
        return "— (0 seeds)"
    text = f"{100 * r['mean']:+.1f} %"
    if r["ci95"] is not None:
        text += f" ± {100 * r['ci95']:.1f}"
    return f"{text} ({r['n']} seed{'' if r['n'] == 1 else 's'})"


def markdown(table: RouterTable) -> str:
    """The mixes chosen, every run's outcomes and the paired comparison, as Markdown."""
    protocols = table["protocols"]
    mixes = md_table(["seed", *ROLES], [[str(r["seed"]), *(r["mix"].get(role, "—")
                                                           for role in ROLES)]
                                        for r in table["rows"]])
    runs = md_table(["seed", "run", *OUTCOMES], [
        [str(r["seed"]), label, *(cell(values[k], BY_KEY[k].digits) for k in OUTCOMES)]
        for r in table["rows"] for label, values in r["outcomes"].items()])
    compared = md_table(
        ["outcome", "best single (by seed)", "mix − best single", "mix / best − 1",
         *(f"mix − {p}" for p in protocols)],
        [[key, ", ".join(f"{r['seed']}: {r['best'][key] or '—'}" for r in table["rows"]),
          diff_cell(dict(c["vs_best"]), BY_KEY[key].digits), relative_cell(c["relative"]),
          *(diff_cell(dict(c["vs"][p]), BY_KEY[key].digits) for p in protocols)]
         for key, c in table["compared"].items()])
    return "\n".join([
        "## ProtocolRouter against the best single protocol", "",
        "The mix: per role, the protocol whose single-protocol runs on the *other* seeds let go "
        "soonest (median `let_go_ms`, a never-let-go hop +inf) of the work caught on a dead "
        "agent of that role.", "", mixes, "",
        "### Outcomes per run (lower is better)", "", runs, "",
        "### The mix against the single protocols, paired by seed (mean ± 95 % CI)", "",
        "The best single protocol is chosen per seed from the other seeds, by the outcome of "
        "the row; `mix / best − 1` is the figure to set against the paper's −18.1 %.", "",
        compared, "", "\\" + PAIRED_LEGEND.replace("protocol − baseline", "mix − protocol"), ""])


__all__ = ["MIX", "OUTCOMES", "Compared", "Hop", "RouterTable", "SeedRow", "best_single",
           "choose_mix", "markdown", "outcomes", "role_scores", "router_table"]
