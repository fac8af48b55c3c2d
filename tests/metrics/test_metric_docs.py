"""The metric catalogue is the one declaration of the metrics: docs/metrics.md is its generated
text, and its keys are exactly the figures `compute_metrics` returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fsr.metrics import compute_metrics
from fsr.metrics.catalogue import CATALOGUE, RUN_FACTS
from fsr.metrics.docs import render_markdown
from tests.metrics.test_inflight import storm_log

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_docs_metrics_md_is_the_generated_text() -> None:
    assert DOC.read_text() == render_markdown(), (
        "docs/metrics.md is stale: python -m fsr.metrics.docs > docs/metrics.md")


def has(data: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def test_every_computed_figure_has_an_entry_and_every_entry_a_figure() -> None:
    # a storm that catches hops in flight, so every nested figure is there
    m = compute_metrics(storm_log())
    declared = {s.top for s in CATALOGUE} - {"details"}  # parts may sit in a breakdown
    assert sorted(set(m) - declared - set(RUN_FACTS)) == [], "computed, not in the catalogue"
    assert sorted(declared & set(RUN_FACTS)) == [], "a figure declared as a run fact"
    assert sorted(set(RUN_FACTS) - set(m)) == [], "a run fact the metrics do not have"
    missing = [s.key for s in CATALOGUE if not has(m, s.path)]
    assert missing == [], "catalogue entries that name no computed figure"


def test_every_entry_is_complete() -> None:
    for s in CATALOGUE:
        assert s.label and s.definition and s.digits >= 0, s.key
        assert "\n" not in s.definition, s.key
