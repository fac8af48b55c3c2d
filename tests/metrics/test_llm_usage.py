"""LLM accounting: exact figures on a hand-written log."""

from __future__ import annotations

from typing import Any

from fsr.config import load_config, to_dict
from fsr.metrics.history import build_history
from fsr.metrics.llm import llm_usage

CONFIG = to_dict(load_config(None, {"scenario.duration": 10, "scenario.kill_at": 5}))


def ev(ts: float, event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "node": fields.pop("node", "a"), "event": event, **fields}


def call(p: int, c: int, ms: float, ok: bool = True) -> dict[str, Any]:
    return {"model": "m", "prompt_tokens": p, "completion_tokens": c, "latency_ms": ms, "ok": ok}


def test_tokens_duplicates_and_latency() -> None:
    events = [
        ev(0.0, "run_start", run_id="r", config=CONFIG, agents=[{"id": "a"}]),
        ev(1.0, "phase", name="broadcast"),
        ev(1.1, "task_submit", task="t1", qid="q", question="?", gold="x", entry="a"),
        ev(1.2, "task_submit", task="t2", qid="q", question="?", gold="x", entry="a"),
        ev(1.3, "stage_done", task="t1", stage="extract", ok=True, ms=40.0,
           llm=[call(100, 10, 30.0)]),
        ev(1.4, "stage_done", task="t1", stage="extract", ok=True, ms=50.0,
           llm=[call(100, 12, 45.0)]),  # a duplicate execution
        ev(1.5, "stage_done", task="t1", stage="reason", ok=True, ms=20.0,
           llm=[call(50, 5, 15.0)]),
        ev(1.6, "stage_done", task="t2", stage="extract", ok=False, ms=900.0,
           llm=[call(0, 0, 900.0, ok=False)]),
        ev(2.0, "task_end", task="t1", status="answered", answer="x", by="a"),
        ev(2.1, "task_end", task="t2", status="failed", answer="", by="a"),
        ev(3.0, "run_end", reason="completed"),
    ]
    u = llm_usage(build_history(events))
    assert u["calls"] == 4 and u["errors"] == 1 and u["tool_errors"] == 1
    assert (u["prompt_tokens"], u["completion_tokens"]) == (250, 27)
    assert u["tokens_per_answered_task"] == 110 + 112 + 55
    assert u["tokens_on_duplicate_work"] == 112
    assert u["call_latency_ms"] == {"p50": 30.0, "p95": 900.0}
    assert u["tool_ms"] == {"n": 4, "p50": 40.0, "p95": 900.0}
