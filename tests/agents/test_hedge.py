"""Hedged requests' policy (`fsr.agents.hedge`) and its config value, as pure logic."""

from __future__ import annotations

import pytest

from fsr.agents.hedge import MIN_SAMPLES, WINDOW, Hedging
from fsr.config import ConfigError, load_config
from fsr.config.schema import parse_hedge


def test_no_hedge_until_the_stage_has_enough_answers() -> None:
    h = Hedging(0.95)
    for i in range(MIN_SAMPLES - 1):
        h.observe("extract", 1.0 + i / 100)
    assert h.delay("extract") is None and h.delay("reason") is None
    h.observe("extract", 9.0)
    # nearest rank: the 10th of 10 sorted values (ceil(0.95 x 10)), the slowest
    assert h.delay("extract") == 9.0
    for _ in range(10):
        h.observe("extract", 1.5)
    assert h.delay("extract") == 1.5  # the 19th of 20: the outlier is the 20th


def test_the_window_keeps_the_latest_answers() -> None:
    h = Hedging(0.5)
    for _ in range(WINDOW):
        h.observe("triple", 10.0)
    for _ in range(WINDOW):
        h.observe("triple", 1.0)
    assert h.delay("triple") == 1.0


@pytest.mark.parametrize(("text", "quantile"), [
    ("off", None), ("p95", 0.95), ("p99.9", pytest.approx(0.999)), ("p50", 0.5)])
def test_parse_hedge(text: str, quantile: float | None) -> None:
    assert parse_hedge(text) == quantile


@pytest.mark.parametrize("value", ["p100", "p0", "95", "fast", "p", 95])
def test_bad_hedge_values_are_one_line(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^recovery.hedge: must be off or pNN"):
        load_config(None, {"recovery.hedge": value})
