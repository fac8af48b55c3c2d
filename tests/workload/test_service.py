"""Service times: the forms, their checks, the draws, the replay samples and the capacity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fsr.config import ConfigError, load_config
from fsr.config.load import planned_capacity
from fsr.workload.service import (
    DEFAULT,
    ServiceTime,
    capacity,
    from_flag,
    parse,
    samples_from_log,
)


def test_the_default_is_llmperf_llama2_70b() -> None:
    cfg = load_config()
    assert cfg.workload.service_time == DEFAULT == {"dist": "lognormal", "median": 2.26,
                                                    "p95": 3.13}
    # auto timeouts follow the service time's p95: a slow but healthy stage is not re-published
    assert cfg.timeouts.hop == pytest.approx(2 + 3 * 3.13)
    assert cfg.timeouts.task == pytest.approx(20 + 5 * 3.13)
    # the rate loads the mesh to 60 % of its planned capacity
    assert cfg.scenario.task_rate == pytest.approx(0.6 * planned_capacity(cfg), abs=1e-3)


def test_none_keeps_the_microsecond_defaults() -> None:
    cfg = load_config(overrides={"workload.service_time": {"dist": "none"}})
    assert (cfg.scenario.task_rate, cfg.timeouts.hop, cfg.timeouts.task) == (4.0, 2.0, 20.0)
    assert planned_capacity(cfg) is None


def test_given_values_win_over_auto() -> None:
    cfg = load_config(overrides={"scenario.task_rate": 3, "timeouts.hop": 1.5})
    assert (cfg.scenario.task_rate, cfg.timeouts.hop) == (3.0, 1.5)


@pytest.mark.parametrize(("value", "message"), [
    ({"dist": "gamma"}, "workload.service_time.dist: must be one of none, fixed, lognormal, "
                        "replay (got 'gamma')"),
    ({"dist": "fixed"}, "workload.service_time.seconds: must be a number > 0 (got None)"),
    ({"dist": "lognormal", "median": 2, "p95": 1},
     "workload.service_time.p95: must be >= median (2) (got 1)"),
    ({"dist": "fixed", "seconds": 1, "median": 2},
     "workload.service_time.median: unknown key for dist fixed (known: dist, seconds)"),
    ({"dist": "replay", "log": "/no/such.jsonl"},
     "workload.service_time.log: no such file: /no/such.jsonl"),
    ("fast", "workload.service_time: must be a mapping with 'dist' (one of none, fixed, "
             "lognormal, replay)"),
])
def test_bad_service_times_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides={"workload.service_time": value})
    assert str(err.value) == message


def test_flag_forms() -> None:
    assert from_flag("none") == {"dist": "none"}
    assert from_flag("fixed:0.5") == {"dist": "fixed", "seconds": 0.5}
    assert from_flag("lognormal:1:2") == {"dist": "lognormal", "median": 1.0, "p95": 2.0}
    assert from_flag("replay:x.jsonl") == {"dist": "replay", "log": "x.jsonl"}
    assert from_flag("fixed:soon") == {"dist": "fixed", "seconds": "soon"}  # refused later


def test_lognormal_draws_have_the_asked_median_and_p95() -> None:
    svc = parse({"dist": "lognormal", "median": 2.26, "p95": 3.13})
    draws = sorted(svc.draw("extract", f"1/t{i}/extract/agent_1/1") for i in range(20000))
    assert draws[10000] == pytest.approx(2.26, rel=0.02)
    assert draws[19000] == pytest.approx(3.13, rel=0.02)
    assert svc.mean("extract") == pytest.approx(2.26 * math.exp(svc.sigma ** 2 / 2))


def test_draws_are_seeded_by_the_work_not_by_arrival() -> None:
    svc = parse({"dist": "lognormal", "median": 1, "p95": 3})
    a = svc.draw("reason", "42/t7/reason/agent_3/1")
    svc.draw("reason", "42/t8/reason/agent_3/1")
    assert svc.draw("reason", "42/t7/reason/agent_3/1") == a
    assert svc.draw("reason", "42/t7/reason/agent_3/2") != a


def test_replay_samples_from_a_log(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    lines = [
        {"ts": 10.0, "node": "agent_1", "event": "work_start", "task": "t1", "stage": "extract"},
        {"ts": 10.5, "node": "agent_2", "event": "work_start", "task": "t1", "stage": "lookup"},
        {"ts": 10.75, "node": "agent_2", "event": "lookup_done", "task": "t1", "src": "x"},
        {"ts": 12.0, "node": "agent_1", "event": "stage_done", "task": "t1", "stage": "extract"},
        {"ts": 13.0, "node": "agent_1", "event": "stage_done", "task": "t9", "stage": "extract"},
    ]
    log.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    assert samples_from_log(log) == {"extract": [2.0], "lookup": [0.25]}
    svc = parse({"dist": "replay", "log": str(log)})
    assert svc.draw("extract", "k") == 2.0 and svc.draw("triple", "k") == 0.0
    # resolved once: the samples travel in the config, the log is not read again
    assert parse(svc.to_dict()) == svc


def test_replay_of_a_log_before_work_slots_times_stages_from_stage_exec(tmp_path: Path) -> None:
    log = tmp_path / "old.jsonl"
    lines = [{"ts": 1.0, "node": "a", "event": "stage_exec", "task": "t", "stage": "reason"},
             {"ts": 1.8, "node": "a", "event": "stage_done", "task": "t", "stage": "reason"}]
    log.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    assert samples_from_log(log) == {"reason": [0.8]}


def test_capacity_is_set_by_the_busiest_agent() -> None:
    svc = ServiceTime("fixed", seconds=2.0)
    roles = [[r] for r in ("search", "extract", "triple", "reason") * 2]
    # 8 agents, replication 2: a search asks ceil(8 / 2) = 4 holders, half a lookup per agent
    # per task; an extract agent also does half the extracts: 1 unit of 2 s per task
    assert capacity(roles, 2, 32, svc) == pytest.approx(32 / 2.0)
    assert capacity(roles, 2, 32, ServiceTime("none")) is None
