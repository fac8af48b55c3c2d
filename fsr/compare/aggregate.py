"""Aggregation of a comparison: pure functions from per-run metrics to per-protocol statistics.

A comparison folder holds one run folder per (protocol, repeat) and a manifest, ``runs.json``,
that lists them with their seeds and exit codes. `load_runs` reads the folder (the only I/O here);
`aggregate` turns the loaded runs into mean ± 95 % CI per protocol for the spec's metrics and for
the overhead report, and into each protocol's paired difference from the first protocol (the
runs paired by seed: the same victims and workload). `fsr compare` and `fsr compare --from` both
go through these two, so a comparison can always be recomputed from its folder.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fsr.compare.stats import CI_METHOD, PAIRED_METHOD, PairedDiff, mean_ci, paired_diff
from fsr.metrics.catalogue import COMPARED, MetricSpec
from fsr.metrics.catalogue import OVERHEAD as CATALOGUE_OVERHEAD
from fsr.metrics.steady import settling_counts, settling_outcome
from fsr.runner.rundir import METRICS_FILE

SCHEMA = "fsr.comparison/1"
MANIFEST = "runs.json"


@dataclass(frozen=True)
class Figure:
    """One aggregated number: where it sits in a metrics file and how to print it."""

    name: str
    path: tuple[str, ...]
    digits: int  # decimals shown in the tables
    label: str = ""  # what the overhead table calls it (the metric table prints the name)


def figure(spec: MetricSpec, section: str | None = None) -> Figure:
    """A catalogue entry as the comparison aggregates it: its path below `section` (a top-level
    key of the metrics file, or None for the whole file); a part of another figure is labelled
    indented below it."""
    path = spec.path[1:] if section else spec.path
    assert not section or spec.path[0] == section, (spec.key, section)
    return Figure(spec.key, path, spec.digits, ("  " if spec.part_of else "") + spec.label)


# the spec's deliverable table, in its order, and the overhead report (fsr.metrics.catalogue)
METRICS = tuple(figure(s) for s in COMPARED)
OVERHEAD = tuple(figure(s, "overhead") for s in CATALOGUE_OVERHEAD)


@dataclass
class RunRecord:
    """One run of a comparison, as the manifest lists it, plus its metrics once loaded."""

    protocol: str
    repeat: int  # 1-based
    seed: int
    dir: str  # relative to the comparison folder
    exit_code: int | None = None  # None: not known (folder assembled without a manifest)
    error: str = ""
    wall_s: float | None = None
    metrics: dict[str, Any] | None = field(default=None, compare=False)

    def manifest_entry(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("metrics")
        return entry

    def problem(self) -> str | None:
        """Why this run cannot be counted, or None if it can."""
        if self.exit_code not in (0, None):
            return f"exit code {self.exit_code}" + (f": {self.error}" if self.error else "")
        if self.metrics is None:
            return f"no {METRICS_FILE}" + (f": {self.error}" if self.error else "")
        if self.metrics.get("partial"):
            return "metrics marked partial (the log was cut off)"
        return None


# -- reading a folder -------------------------------------------------------------------------
def load_runs(folder: Path) -> tuple[dict[str, Any], list[RunRecord]]:
    """The manifest's settings and its runs with their metrics. Without a manifest, every
    ``*/failstorm_metrics.json`` below `folder` is a run (repeat numbered by seed)."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        settings = data.get("settings", {})
        runs = [RunRecord(**entry) for entry in data.get("runs", [])]
    else:
        settings, runs = {}, []
        found = sorted(folder.glob(f"*/{METRICS_FILE}"))
        metas = [(p.parent.name, json.loads(p.read_text())) for p in found]
        for name, m in sorted(metas, key=lambda x: (x[1]["protocol"], x[1]["seed"], x[0])):
            repeat = 1 + sum(r.protocol == m["protocol"] for r in runs)
            runs.append(RunRecord(m["protocol"], repeat, m["seed"], name))
    for r in runs:
        path = folder / r.dir / METRICS_FILE
        if path.is_file():
            r.metrics = json.loads(path.read_text())
    return settings, runs


# -- the statistics ---------------------------------------------------------------------------
def dig(data: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def null_reason(m: dict[str, Any], figure: Figure, section: str | None) -> str:
    """Why a figure is null in one run, from what the run's metrics file says about it."""
    if section == "overhead":
        if "overhead" not in m:
            return "no overhead report in the metrics file"
        return "undefined: nothing to divide by"
    d = m.get("details", {})
    if figure.path[0] == "inflight":
        inflight = m.get("inflight")
        if not isinstance(inflight, dict):
            return "no inflight report in the metrics file"
        return inflight.get("reason") or "no hop in flight to a victim was let go"
    if figure.name == "detection_busy_ms_p50":
        busy = d.get("detection", {}).get("busy")
        if not isinstance(busy, dict):
            return "no busy-peer detection figure in the metrics file"
        return busy.get("reason") or "no busy pair (work in flight to the victim) detected"
    if figure.name == "recovery_ms":
        return d.get("recovery", {}).get("reason", "")
    if figure.name == "steady_state_ms":
        return d.get("steady_state", {}).get("reason", "")
    if figure.name == "success_rate_drop":
        drop = d.get("success_rate_drop", {})
        pre, post = drop.get("pre", {}), drop.get("post", {})
        if pre.get("success_rate") is None:
            return "no task submitted before the fault"
        if not pre["success_rate"]:
            return "pre-fault success rate is 0"
        if post.get("success_rate") is None:
            return "no task submitted after the fault"
    if figure.name == "duplicate_work_ratio":
        return "no stage executed"
    if figure.name == "detection_ms_p50":
        return d.get("detection", {}).get("reason") or "no survivor lost a victim"
    if figure.name == "failover_ms":
        return d.get("failover", {}).get("reason", "")
    if figure.name == "rejoin_ms_p50":
        return "no victim rejoined"
    return ""


def summarise(runs: list[RunRecord], figure: Figure, section: str | None,
              of: int) -> dict[str, Any]:
    """mean ± CI of one figure over the usable `runs` (of `of` runs of the protocol, failed ones
    included); nulls counted by their reason."""
    values: list[float] = []
    nulls: Counter[str] = Counter()
    for r in runs:
        assert r.metrics is not None
        value = dig(r.metrics.get(section) if section else r.metrics, figure.path)
        # a settling time is averaged over the runs that settled; the others are counted by
        # their outcome (not disturbed, never settled, too few tasks to tell)
        outcome = settling_outcome(r.metrics) if figure.name == "steady_state_ms" else None
        if value is None or outcome not in (None, "settled"):
            known = outcome not in (None, "settled", "unknown")
            nulls[str(outcome) if known else null_reason(r.metrics, figure, section)
                  or "null (no reason recorded)"] += 1
        else:
            values.append(float(value))
    return {**mean_ci(values), "runs": of, "values": values, "nulls": dict(nulls)}


def by_seed(runs: list[RunRecord], figure: Figure, section: str | None) -> dict[int, float]:
    """One figure's value per seed over the usable `runs`; a null value gives no entry, and
    neither does a seed that two usable runs share (no unique pair)."""
    usable = [r for r in runs if r.problem() is None and r.metrics is not None]
    count = Counter(r.seed for r in usable)
    out: dict[int, float] = {}
    for r in usable:
        assert r.metrics is not None
        value = dig(r.metrics.get(section) if section else r.metrics, figure.path)
        if value is not None and count[r.seed] == 1:
            out[r.seed] = float(value)
    return out


def baselines(settings: dict[str, Any], labels: list[str]) -> dict[str, str]:
    """Each protocol key -> the key it is compared with: the first protocol of the comparison
    (``settings["protocols"][0]``, else the first key) under the same failure handling, so
    ``a2a/native`` -> ``json/native`` when the comparison ran ``--failure-handling both``. The
    first protocol itself, and a key whose baseline has no runs, are left out. With
    ``--variants`` each ``<protocol>/<value>`` is compared with its protocol's first value."""
    variants = settings.get("variants")
    if variants:
        firsts = {label: label.partition("/")[0] + "/" + str(variants["values"][0])
                  for label in labels}
        return {label: base for label, base in firsts.items()
                if label != base and base in labels}
    listed = settings.get("protocols") or labels
    if not listed:
        return {}
    first = str(listed[0]).partition("/")[0]
    out: dict[str, str] = {}
    for label in labels:
        _, sep, mode = label.partition("/")
        base = first + sep + mode
        if label != base and base in labels:
            out[label] = base
    return out


def paired(settings: dict[str, Any], runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Per protocol other than the first (per failure-handling mode): every figure's paired
    difference from its baseline, over the seeds where both runs are usable and non-null."""
    labels = list(dict.fromkeys(r.protocol for r in runs))
    out: list[dict[str, Any]] = []
    for label, base in baselines(settings, labels).items():
        mine = [r for r in runs if r.protocol == label]
        theirs = [r for r in runs if r.protocol == base]
        out.append({"protocol": label, "baseline": base,
                    "metrics": diffs(mine, theirs, METRICS, None),
                    "overhead": diffs(mine, theirs, OVERHEAD, "overhead")})
    return out


def diffs(mine: list[RunRecord], theirs: list[RunRecord], figures: tuple[Figure, ...],
          section: str | None) -> dict[str, PairedDiff]:
    """Each figure's paired difference mine − theirs."""
    return {f.name: paired_diff(by_seed(mine, f, section), by_seed(theirs, f, section))
            for f in figures}


def aggregate(settings: dict[str, Any], runs: list[RunRecord]) -> dict[str, Any]:
    """The comparison: per protocol (in the order first seen), every metric and overhead figure
    as mean ± 95 % CI over its usable runs, with the runs that could not be counted and why;
    and under ``paired``, each protocol's paired difference from the first protocol."""
    protocols: dict[str, Any] = {}
    for name in dict.fromkeys(r.protocol for r in runs):
        mine = [r for r in runs if r.protocol == name]
        usable = [r for r in mine if r.problem() is None]
        protocols[name] = {
            "runs": len(mine),
            "usable": len(usable),
            "seeds": [r.seed for r in mine],
            "failed": [{"dir": r.dir, "reason": r.problem()} for r in mine if r.problem()],
            "settling": settling_counts(r.metrics for r in usable if r.metrics is not None),
            "metrics": {f.name: summarise(usable, f, None, len(mine)) for f in METRICS},
            "overhead": {f.name: summarise(usable, f, "overhead", len(mine)) for f in OVERHEAD},
        }
    return {
        "schema": SCHEMA,
        "settings": settings,
        "ci": CI_METHOD,
        "runs": [r.manifest_entry() for r in runs],
        "protocols": protocols,
        "paired_ci": PAIRED_METHOD,
        "paired": paired(settings, runs),
    }


__all__ = ["MANIFEST", "METRICS", "OVERHEAD", "SCHEMA", "Figure", "RunRecord", "aggregate",
           "baselines", "by_seed", "load_runs", "paired"]
