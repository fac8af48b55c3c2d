"""Replay: a run on the openai backend against a local endpoint with a known latency
distribution, then an offline run that replays that log's per-stage latencies. The replayed
stages take what the recorded ones took: p50 and p95 within 15 %, per stage, both read from
each run's log (`work_start` to `stage_done`)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from pathlib import Path

from fsr.metrics.checkers import percentile
from fsr.workload.service import samples_from_log
from tests.helpers import FakeServer, log_path, metrics, run_fsr, write_config

MEDIAN, P95 = 0.3, 0.45  # the endpoint's own latency: lognormal
RUN = {"duration": 16, "kill_fraction": 0, "task_rate": 6, "seed": 3}


def lognormal_delay() -> Callable[[], float]:
    rng = random.Random(7)
    lock = threading.Lock()
    sigma = math.log(P95 / MEDIAN) / 1.6448536269514722

    def delay() -> float:
        with lock:
            return MEDIAN * math.exp(sigma * rng.gauss(0, 1))

    return delay


def test_replay_reproduces_the_recorded_stage_latencies(tmp_path: Path) -> None:
    with FakeServer(delay=lognormal_delay()) as server:
        cfg = write_config(tmp_path / "llm.yaml", scenario=RUN,
                           heartbeat={"interval": 0.5, "liveness": 6},
                           llm={"model": {"type": "openai", "name": "m", "base_url":
                                          server.base_url, "openai_api_key": "sk-x",
                                          "concurrency": 8}})
        recorded = tmp_path / "recorded"
        proc = run_fsr("run", "--config", str(cfg), "--out", str(recorded), "--no-report",
                       timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert metrics(recorded)["llm"]["calls"] > 100
    # the same scenario on the offline tools: only the latencies come from the recording
    offline = write_config(tmp_path / "offline.yaml", scenario=RUN,
                           heartbeat={"interval": 0.5, "liveness": 6},
                           workload={"service_time": {"dist": "replay",
                                                      "log": str(log_path(recorded))}})
    replayed = tmp_path / "replayed"
    proc = run_fsr("run", "--config", str(offline), "--out", str(replayed), "--no-report",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, after = samples_from_log(log_path(recorded)), samples_from_log(log_path(replayed))
    assert set(before) == {"extract", "triple", "reason"}  # an openai run's lookups are inline
    for stage in ("extract", "triple", "reason"):
        assert len(before[stage]) >= 60 and len(after[stage]) >= 60, stage
        for q in (50, 95):
            rec, rep = percentile(before[stage], q), percentile(after[stage], q)
            assert rec is not None and rep is not None
            assert abs(rep - rec) <= 0.15 * rec, (stage, q, rec, rep)
        # and the recording is the endpoint's distribution, not the harness's
        assert abs((percentile(before[stage], 50) or 0) - MEDIAN) <= 0.15 * MEDIAN
