"""The fault schedule: checked before anything runs (one line naming the key), and expanded into
numbered storms."""

from __future__ import annotations

import pytest

from fsr.config import ConfigError, from_dict, load_config, to_dict
from fsr.config.schedule import Storm, Targets


def storms(**scenario: object) -> list[Storm]:
    return load_config(None, {f"scenario.{k}": v for k, v in scenario.items()}).storms


def with_faults(faults: list[dict[str, object]]) -> list[Storm]:
    """The storms of the default config with this schedule, expanded as `Config.storms`."""
    return from_dict({**to_dict(load_config(None)), "faults": faults}).storms


def test_the_default_is_one_kill_storm_at_kill_at() -> None:
    (only,) = storms()
    assert (only.index, only.kind, only.at, only.duration) == (0, "kill", 60.0, 5.0)
    assert only.targets.fraction == 0.3


def test_storms_repeat_every_storm_every() -> None:
    got = storms(storms=3, storm_every=20, kill_at=6, duration=120)
    assert [(s.index, s.at) for s in got] == [(0, 6.0), (1, 26.0), (2, 46.0)]


def test_a_storm_after_the_work_phase_never_strikes() -> None:
    assert [s.at for s in storms(storms=3, storm_every=20, kill_at=6, duration=30)] == [6, 26]


def test_schedule_entries_are_merged_in_time_order() -> None:
    got = with_faults([
        {"kind": "pause", "at": 30, "duration": 4, "targets": {"role": "search"}},
        {"kind": "kill", "at": 10, "targets": {"ids": ["agent_1"]},
         "repeat": {"every": 40, "count": 2}},
        {"kind": "loss", "at": 20, "duration": 5, "percent": 25,
         "targets": {"holders_of": "f3"}},
    ])
    assert [(s.index, s.kind, s.at) for s in got] == [
        (0, "kill", 10.0), (1, "loss", 20.0), (2, "pause", 30.0), (3, "kill", 50.0)]
    assert got[1].percent == 25.0 and got[1].targets.holders_of == "f3"
    assert got[0].duration == 5.0  # a kill's duration defaults to restart_delay


@pytest.mark.parametrize(("faults", "message"), [
    ([{"kind": "melt", "at": 1, "targets": {"fraction": 0.3}}],
     "faults[0].kind: must be one of kill, kill-host, pause, partition, loss, corrupt, delay "
     "(got 'melt')"),
    ([{"kind": "delay", "at": 1, "duration": 2, "targets": {"fraction": 0.3}}],
     "faults[0].ms: must be a number between 0 and 60000 (got None)"),
    ([{"kind": "pause", "at": 1, "duration": 2, "ms": 5, "targets": {"fraction": 0.3}}],
     "faults[0].ms: only a delay fault has ms"),
    ([{"kind": "pause", "at": 1, "targets": {"fraction": 0.3}}],
     "faults[0].duration: must be a number >= 0.001 (got None)"),
    ([{"kind": "kill", "at": 1, "targets": {"ids": ["agent_99"]}}],
     "faults[0].targets.ids: no such agent 'agent_99'"),
    ([{"kind": "kill", "at": 1, "targets": {"fraction": 0.3, "role": "x"}}],
     "faults[0].targets: must be one of"),
    ([{"kind": "loss", "at": 1, "duration": 2, "targets": {"fraction": 0.3}}],
     "faults[0].percent: must be a number between 0 and 100 (got None)"),
    ([{"kind": "pause", "at": 1, "duration": 5, "targets": {"fraction": 0.3},
       "repeat": {"every": 5, "count": 3}}],
     "faults[0].repeat.every: must exceed the fault's duration (5 s)"),
    ([{"kind": "kill", "at": 1, "targets": {"fraction": 0.3}, "when": 3}],
     "faults[0].when: unknown key"),
    ({"kind": "kill"}, "faults: must be a list of faults"),
    ([{"kind": "kill", "at": 1, "targets": {"fraction": 0.3, "hub": "maybe"}}],
     "faults[0].targets.hub: must be include or exclude (got 'maybe')"),
    ([{"kind": "kill", "at": 1, "targets": {"fraction": 0.3, "hub": "include"}}],
     "faults[0].targets.hub: include needs a protocol with a hub (ioa)"),
    ([{"kind": "kill", "at": 1, "targets": {"hub": "exclude"}}], "faults[0].targets: must be"),
])
def test_bad_schedules_name_the_key(faults: object, message: str, tmp_path) -> None:
    import yaml

    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump({"faults": faults}))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(message), str(exc.value)


def test_single_storm_errors_name_the_scenario_key() -> None:
    with pytest.raises(ConfigError, match=r"^scenario.storm_every: must exceed"):
        load_config(None, {"scenario.storms": 3, "scenario.storm_every": 4})  # restart 5 s
    with pytest.raises(ConfigError, match=r"^scenario.fault: must be one of"):
        load_config(None, {"scenario.fault": "melt"})
    (delay,) = storms(fault="delay", delay_ms=80, jitter_ms=10)
    assert delay.params == {"ms": 80.0, "jitter": 10.0}


def test_corrupt_does_not_share_a_schedule_with_drops() -> None:
    with pytest.raises(ValueError, match="corrupt cannot share a schedule"):
        with_faults([
            {"kind": "corrupt", "at": 5, "duration": 3, "percent": 10,
             "targets": {"fraction": 0.25}},
            {"kind": "partition", "at": 20, "duration": 3, "targets": {"fraction": 0.25}}])


def test_targets_of_a_run_with_a_hub_may_include_it() -> None:
    ioa = {**to_dict(load_config(None, {"scenario.protocol": "ioa"}))}
    got = from_dict({**ioa, "faults": [
        {"kind": "kill", "at": 1, "targets": {"fraction": 0.3, "hub": "include"}},
        {"kind": "pause", "at": 2, "duration": 1, "targets": {"hub": "include"}},
        {"kind": "kill", "at": 3, "targets": {"role": "search", "hub": "exclude"}}]}).storms
    assert [s.targets for s in got] == [Targets(fraction=0.3, hub=True), Targets(hub=True),
                                        Targets(role="search")]
    assert got[0].targets.describe() == {"fraction": 0.3, "hub": "include"}
    (single,) = load_config(None, {"scenario.protocol": "ioa",
                                   "scenario.target_hub": "include"}).storms
    assert single.targets == Targets(fraction=0.3, hub=True)
    (default,) = load_config(None, {"scenario.protocol": "ioa"}).storms
    assert default.targets == Targets(fraction=0.3)  # exclude by default
