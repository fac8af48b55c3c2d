"""The ``recovery`` section (reconnection pacing): validated like every key — one line naming the
key, exit 2 from `fsr run`, nothing spawned — with defaults that are the cited sources'."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsr.agents import pacing
from fsr.agents.pacing import pacing_of
from fsr.config import ConfigError, load_config
from tests.helpers import run_fsr


@pytest.mark.parametrize(("overrides", "message"), [
    ({"recovery.reconnect": "later"}, "recovery.reconnect: must be one of immediate, batched "
                                      "(got 'later')"),
    ({"recovery.reconnect": True}, "recovery.reconnect: must be one of immediate, batched"),
    ({"recovery.initial_backoff": 0}, "recovery.initial_backoff: must be > 0 (got 0)"),
    ({"recovery.initial_backoff": "soon"}, "recovery.initial_backoff: must be a number"),
    ({"recovery.multiplier": 0.5}, "recovery.multiplier: must be between 1 and 100 (got 0.5)"),
    ({"recovery.jitter": 1.5}, "recovery.jitter: must be between 0 and 1 (got 1.5)"),
    ({"recovery.jitter": -0.1}, "recovery.jitter: must be between 0 and 1"),
    ({"recovery.max_backoff": -3}, "recovery.max_backoff: must be > 0"),
    ({"recovery.max_backoff": 0.5}, "recovery.max_backoff: must be >= recovery.initial_backoff "
                                    "(1) (got 0.5)"),
    ({"recovery.rate": 0}, "recovery.rate: must be > 0 (got 0)"),
    ({"recovery.rate": "fast"}, "recovery.rate: must be a number (got 'fast')"),
    ({"recovery.burst": 0}, "recovery.burst: must be between 1 and 100000 (got 0)"),
    ({"recovery.burst": 2.5}, "recovery.burst: must be an integer (got 2.5)"),
    ({"recovery.colour": 1}, "recovery.colour: unknown key"),
])
def test_bad_recovery_values_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_defaults_are_todays_behaviour_and_the_cited_sources() -> None:
    r = load_config().recovery
    assert r.reconnect == "immediate"
    # gRPC doc/connection-backoff.md; Consul agent/router/manager.go, agent/config/default.go
    assert (r.initial_backoff, r.multiplier, r.jitter, r.max_backoff) == (
        pacing.INITIAL_BACKOFF, pacing.MULTIPLIER, pacing.JITTER, pacing.MAX_BACKOFF) == (
        1.0, 1.6, 0.2, 120.0)
    assert (r.rate, r.burst) == (pacing.RATE, pacing.BURST) == (64.0, 100)
    assert pacing_of(load_config()) is None  # immediate: the links pace nothing


def test_batched_scales_the_backoff_by_failure_scale_and_not_the_bucket() -> None:
    cfg = load_config(overrides={"recovery.reconnect": "batched", "scenario.failure_scale": 0.5,
                                 "recovery.rate": 8, "recovery.burst": 3, "scenario.seed": 9})
    p = pacing_of(cfg)
    assert p is not None
    assert (p.backoff.initial, p.backoff.maximum) == (0.5, 60.0)
    assert (p.backoff.multiplier, p.backoff.jitter) == (1.6, 0.2)
    assert (p.rate, p.burst, p.seed) == (8.0, 3, 9)


def test_cli_bad_reconnect_flag_exits_2_with_one_line_and_spawns_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_fsr("run", "--reconnect", "sometimes", "--out", str(out), timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("fsr: error: recovery.reconnect (--reconnect): must be one of "
                                   "immediate, batched (got 'sometimes')")
    assert not out.exists()


def test_bad_yaml_recovery_value_exits_2_and_spawns_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("recovery:\n  reconnect: batched\n  burst: 0\n")
    out = tmp_path / "run"
    proc = run_fsr("run", "--config", str(path), "--out", str(out), timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("fsr: error: recovery.burst: must be between 1 and 100000 "
                                   "(got 0)")
    assert not out.exists()
