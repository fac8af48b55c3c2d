"""The history is built in one pass over the events in any order (a log file is only roughly in
time order), keeping the wire-carrying events as columns: the metrics are the same."""

from __future__ import annotations

import pytest

from fsr.metrics import compute_metrics
from fsr.metrics.history import build_history
from fsr.metrics.ledger import WIRE_EVENTS
from tests.metrics.test_overhead import ev, hand_log


def test_wire_events_out_of_order_give_the_same_metrics() -> None:
    # task frame "m" is sent at 2.1, 2.2 and 2.3 s and delivered at 2.5 s
    log = [*hand_log(), ev(2.5, "deliver", node="b", src="a", kind="task", mid="m")]
    wire = [e for e in log if e["event"] in WIRE_EVENTS]
    assert len(wire) >= 10
    # the wire events first and backwards; every other event keeps its order
    shuffled = wire[::-1] + [e for e in log if e["event"] not in WIRE_EVENTS]
    m = compute_metrics(shuffled)
    assert m == compute_metrics(log)
    assert m["hop_latency"] == {"n": 1, "p50_ms": 400.0, "p95_ms": 400.0}  # from the first send


def test_the_history_keeps_no_wire_event_dicts() -> None:
    h = build_history(hand_log())
    assert not [e for e in h.events if e["event"] in WIRE_EVENTS]
    assert sum(r.wire for r in h.wire.rows()) == sum(e["wire"] for e in hand_log()
                                                     if e["event"] in WIRE_EVENTS)
    with pytest.raises(KeyError, match="not kept"):
        h.of("send")
