"""Confidence intervals over the repeats of a comparison: mean ± 95 % Student-t half-width.

scipy is not a dependency, so the two-sided 95 % quantile t(0.975, df) comes from a table for
df 1..30 (4 decimals, the standard table) and, above 30, from the Cornish-Fisher expansion of t
around the normal quantile (`statistics.NormalDist`); its error there is below 1e-5.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

# t(0.975, df) for df = 1..30
T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)

CI_METHOD = ("mean ± t(0.975, n-1) · s / sqrt(n), s the sample standard deviation; t from a "
             "table for df 1..30, Cornish-Fisher expansion above")


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


def mean_ci(values: list[float]) -> dict[str, Any]:
    """n, mean, sample sd and the 95 % interval; with n < 2 there is no spread, so no interval."""
    n = len(values)
    out: dict[str, Any] = {"n": n, "mean": None, "sd": None, "ci95": None, "low": None,
                           "high": None}
    if n == 0:
        return out
    mean = statistics.fmean(values)
    out["mean"] = r6(mean)
    if n >= 2:
        sd = statistics.stdev(values)
        half = t975(n - 1) * sd / math.sqrt(n)
        out.update(sd=r6(sd), ci95=r6(half), low=r6(mean - half), high=r6(mean + half))
    return out


def r6(x: float) -> float:
    """Six decimals: far below any metric's resolution, and stable text in the reports."""
    return round(x, 6)


__all__ = ["CI_METHOD", "T975", "mean_ci", "t975"]
