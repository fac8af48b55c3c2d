"""Confidence intervals over the repeats of a comparison: mean ± 95 % Student-t half-width, of
one protocol's values (`mean_ci`) and of its differences from another protocol on the same seeds
(`paired_diff`).

scipy is not a dependency, so the two-sided 95 % quantile t(0.975, df) comes from a table for
df 1..30 (4 decimals, the standard table) and, above 30, from the Cornish-Fisher expansion of t
around the normal quantile (`statistics.NormalDist`); its error there is below 1e-5.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import TypedDict

# t(0.975, df) for df = 1..30
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)

CI_METHOD = ("mean ± t(0.975, n-1) · s / sqrt(n), s the sample standard deviation; t from a "
             "table for df 1..30, Cornish-Fisher expansion above")
PAIRED_METHOD = ("paired over seeds: d = x(protocol) - x(first protocol) on each seed where both "
                 "runs are counted and both values are non-null; mean(d) ± t(0.975, n-1) · "
                 "s_d / sqrt(n), n the number of pairs; excludes_zero: that interval lies wholly "
                 "above or below 0 (needs n >= 2)")


class Interval(TypedDict):
    """A mean and its 95 % interval; everything but n is None without values, and sd, ci95,
    low and high are None with a single value."""

    n: int
    mean: float | None
    sd: float | None
    ci95: float | None
    low: float | None
    high: float | None


class PairedDiff(Interval):
    """The interval of the differences d over the paired seeds (in `seeds` order)."""

    excludes_zero: bool
    seeds: list[int]
    diffs: list[float]


def t975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1 (got {df})")
    if df <= len(T975):
        return T975[df - 1]
    z = statistics.NormalDist().inv_cdf(0.975)
    # Abramowitz & Stegun 26.7.5, three correction terms
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def mean_ci(values: Sequence[float]) -> Interval:
    """n, mean, sample sd and the 95 % interval; with n < 2 there is no spread, so no interval."""
    n = len(values)
    if n == 0:
        return Interval(n=0, mean=None, sd=None, ci95=None, low=None, high=None)
    mean = statistics.fmean(values)
    if n == 1:
        return Interval(n=1, mean=r6(mean), sd=None, ci95=None, low=None, high=None)
    sd = statistics.stdev(values)
    half = t975(n - 1) * sd / math.sqrt(n)
    return Interval(n=n, mean=r6(mean), sd=r6(sd), ci95=r6(half), low=r6(mean - half),
                    high=r6(mean + half))


def paired_diff(x: Mapping[int, float], base: Mapping[int, float]) -> PairedDiff:
    """The paired difference x − base over the seeds both map (seed -> value): the mean ± 95 %
    CI of the per-seed differences, and whether that interval excludes 0 (judged on the rounded
    bounds the reports show; never with fewer than two pairs)."""
    seeds = sorted(x.keys() & base.keys())
    diffs = [x[s] - base[s] for s in seeds]
    ci = mean_ci(diffs)
    low, high = ci["low"], ci["high"]
    excludes = low is not None and high is not None and (low > 0 or high < 0)
    return PairedDiff(n=ci["n"], mean=ci["mean"], sd=ci["sd"], ci95=ci["ci95"], low=low,
                      high=high, excludes_zero=excludes, seeds=seeds,
                      diffs=[r6(d) for d in diffs])


def r6(x: float) -> float:
    """Six decimals: far below any metric's resolution, and stable text in the reports."""
    return round(x, 6)


__all__ = ["CI_METHOD", "PAIRED_METHOD", "T975", "Interval", "PairedDiff", "mean_ci",
           "paired_diff", "t975"]
