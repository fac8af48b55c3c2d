"""LLM accounting from the log: tokens and latency of the model calls behind the tools.

Each `stage_done` event carries the calls its tool made (`llm`: model, prompt/completion tokens
from the API's `usage`, latency). Tool time is reported apart from hop latency, so a slow model
does not masquerade as a slow protocol.
"""

from __future__ import annotations

from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import percentile, r3
from fsr.metrics.history import History


def llm_usage(h: History) -> dict[str, Any]:
    """Tokens per answered task, tokens spent on duplicate (task, stage) executions, LLM call
    latency p50/p95 and errors, and tool execution time p50/p95 — all from `stage_done`."""
    done = h.of(ev.STAGE_DONE)
    calls = [c for e in done for c in e.get("llm") or []]

    def tokens(call: dict[str, Any]) -> int:
        return int(call.get("prompt_tokens") or 0) + int(call.get("completion_tokens") or 0)

    per_task: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    duplicate_tokens = 0
    for e in done:
        spent = sum(tokens(c) for c in e.get("llm") or [])
        per_task[e["task"]] = per_task.get(e["task"], 0) + spent
        key = (e["task"], e["stage"])
        if key in seen:
            duplicate_tokens += spent
        seen.add(key)
    answered = [t.task_id for t in h.tasks if t.status == "answered"]
    latencies = [float(c["latency_ms"]) for c in calls if c.get("latency_ms") is not None]
    tool_ms = [float(e["ms"]) for e in done if e.get("ms") is not None]
    return {
        "calls": len(calls),
        "errors": sum(1 for c in calls if c.get("ok") is False),
        "models": sorted({str(c.get("model")) for c in calls}),
        "prompt_tokens": sum(int(c.get("prompt_tokens") or 0) for c in calls),
        "completion_tokens": sum(int(c.get("completion_tokens") or 0) for c in calls),
        "tokens_per_answered_task": r3(sum(per_task.get(t, 0) for t in answered) / len(answered))
        if answered else None,
        "tokens_on_duplicate_work": duplicate_tokens,
        "call_latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "tool_ms": {"n": len(tool_ms), "p50": percentile(tool_ms, 50),
                    "p95": percentile(tool_ms, 95)},
        "tool_errors": sum(1 for e in done if e.get("ok") is False),
    }
