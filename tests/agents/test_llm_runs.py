"""Whole runs on the LLM path: a refusing endpoint, a hanging endpoint, and the real local model.

Tool failures must fail hops (which are re-published), never agents; the run completes and the
failures show in the metrics. The API key never reaches a file of the run.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import HangingEndpoint, events, metrics, run_fsr, write_config

SECRET = "sk-fsr-test-SECRET-0123456789"


def llm_config(tmp: Path, base_url: str, **scenario: object) -> Path:
    return write_config(
        tmp / "llm.yaml",
        scenario={"duration": 5, "kill_at": 2, "task_rate": 2, "kill_fraction": 0, **scenario},
        heartbeat={"interval": 0.25, "liveness": 8},
        timeouts={"hop": 3.0, "task": 8.0, "max_attempts": 2},
        llm={"model": {"type": "openai", "name": "test-model", "base_url": base_url,
                       "openai_api_key": SECRET, "timeout": 0.5, "max_retries": 1}},
    )


def assert_failures_visible_and_agents_survive(out: Path) -> None:
    evs = events(out)
    m = metrics(out)
    assert m["llm"]["tool_errors"] > 0 and m["llm"]["errors"] > 0
    assert any(e["event"] == "hop_republished" and e["reason"] == "tool_error" for e in evs)
    ends = Counter(e["task"] for e in evs if e["event"] == "task_end")
    assert set(ends.values()) == {1} and len(ends) == m["tasks"]["submitted"] > 0
    assert m["tasks"]["states"]["failed"] + m["tasks"]["states"]["timed_out"] == len(ends)
    # no agent crashed: each one started once and stopped when told
    started = Counter(e["node"] for e in evs if e["event"] == "agent_started")
    stopped = Counter(e["node"] for e in evs if e["event"] == "agent_stopped")
    assert started == stopped and len(started) == 8
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_refusing_endpoint(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(llm_config(tmp_path, f"http://127.0.0.1:{port}/v1")),
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_failures_visible_and_agents_survive(out)


def test_hanging_endpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with HangingEndpoint() as endpoint:
        proc = run_fsr("run", "--config", str(llm_config(tmp_path, endpoint.url)),
                       "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_failures_visible_and_agents_survive(out)
    assert any("timed out" in (e.get("error") or "").lower() for e in events(out)
               if e["event"] == "stage_done")


LOCAL = importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.local_llm
@pytest.mark.timeout(600)
@pytest.mark.skipif(not LOCAL and os.environ.get("FSR_REQUIRE_LOCAL_LLM") != "1",
                    reason="llama-cpp-python not installed (pip install -e '.[local-llm]')")
def test_storm_on_the_local_model(tmp_path: Path) -> None:
    """A short storm with `llm.model.type: local`: one agent per role, one killed and restarted;
    the model is slow (≈ 1 s a call on 2 cores), so the timeline and timeouts are wide."""
    cfg = write_config(
        tmp_path / "local.yaml",
        scenario={"agent_count": 4, "kill_fraction": 0.25, "duration": 40, "kill_at": 16,
                  "restart_delay": 3, "task_rate": 0.25, "seed": 1},
        heartbeat={"interval": 0.5, "liveness": 4},
        timeouts={"hop": 25.0, "task": 90.0},
        metrics={"reconnect_window": 10, "steady_window": 8, "steady_step": 1},
        llm={"model": {"type": "local", "timeout": 30, "max_retries": 0, "concurrency": 1}},
    )
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(cfg), "--out", str(out), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = metrics(out)
    evs = events(out)
    calls = [c for e in evs if e["event"] == "stage_done" for c in e.get("llm") or []]
    assert calls and all(c["prompt_tokens"] > 0 for c in calls if c["ok"])
    assert sum(c["completion_tokens"] for c in calls if c["ok"]) > 0
    assert m["llm"]["tokens_per_answered_task"] > 0
    assert m["tasks"]["states"]["answered"] > 0  # answered through real completions, graded
    assert m["tasks"]["em"] is not None
    for key in ("recovery_ms", "bytes_reconnect", "duplicate_work_ratio"):
        assert isinstance(m[key], int | float), (key, m["details"])
    # A 135M model answers few questions right, so a window may hold no correct answer: then
    # these are null, with the reason stated (never a made-up number).
    for key, detail in (("steady_state_ms", "steady_state"),
                        ("success_rate_drop", "success_rate_drop")):
        assert isinstance(m[key], int | float) or m["details"][detail]["reason"], key
