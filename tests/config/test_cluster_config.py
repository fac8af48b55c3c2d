"""Cluster mode's config: the ``cluster`` section and its flags, validated like every key — one
line naming the key, exit 2 from `fsr run`, nothing spawned."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import yaml

from fsr import cli
from fsr.config import ConfigError, load_config
from fsr.config.schedule import Storm, Targets
from fsr.config.schema import flags


def fsr_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp: Path,
            *args: str) -> tuple[int | str | None, list[str]]:
    """`fsr run ARGS` in this process (a refusal is decided before anything is spawned, so no
    interpreter start per case): its exit code and stderr's lines; the run folder must not
    exist."""
    out = tmp / "run"
    monkeypatch.setattr(sys, "argv", ["fsr", "run", *args, "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert not out.exists()  # no run folder, so no plan, no agent was spawned
    return exit_.value.code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_the_defaults_are_a_local_run() -> None:
    c = load_config().cluster
    assert (c.engine, c.address, c.placement) == ("local", None, "spread")


def test_the_cluster_flags_set_the_cluster_section() -> None:
    assert {name: key for name, (key, _) in flags().items() if key.startswith("cluster.")} == {
        "cluster": "cluster.engine", "ray_address": "cluster.address",
        "placement": "cluster.placement"}
    overrides = {cli.CONFIG_FLAGS["cluster"]: "ray", cli.CONFIG_FLAGS["ray_address"]:
                 "10.0.0.2:6379", cli.CONFIG_FLAGS["placement"]: "pack"}
    c = load_config(overrides=overrides).cluster
    assert (c.engine, c.address, c.placement) == ("ray", "10.0.0.2:6379", "pack")
    auto = load_config(overrides={"cluster.engine": "ray", "cluster.address": "auto"})
    assert auto.cluster.address is None  # Ray's own discovery


@pytest.mark.parametrize(("overrides", "message"), [
    ({"cluster.engine": "k8s"}, "cluster.engine: must be one of local, ray (got 'k8s')"),
    ({"cluster.placement": "scatter"},
     "cluster.placement: must be one of spread, pack (got 'scatter')"),
    ({"cluster.engine": "ray", "cluster.address": ""},
     "cluster.address: must be a non-empty string (got '')"),
    ({"cluster.engine": "ray", "cluster.address": 6379},
     "cluster.address: must be a non-empty string (got 6379)"),
    ({"cluster.address": "10.0.0.2:6379"}, "cluster.address: a Ray address needs "
                                           "cluster.engine: ray (got '10.0.0.2:6379' with "
                                           "engine local)"),
    ({"cluster.nodes": 3}, "cluster.nodes: unknown key"),
])
def test_bad_cluster_values_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("args", "message"), [
    (["--cluster", "k8s"], "cluster.engine (--cluster): must be one of local, ray (got 'k8s')"),
    (["--cluster", "ray", "--placement", "scatter"],
     "cluster.placement (--placement): must be one of spread, pack (got 'scatter')"),
    (["--ray-address", "10.0.0.2:6379"], "cluster.address (--ray-address): a Ray address "
                                         "needs cluster.engine: ray"),
    # host targets and kill-host
    (["--fault", "kill-host"], "scenario.fault (--fault): kill-host needs cluster.engine: ray"),
    (["--fault", "kill-host", "--cluster", "local"],
     "scenario.fault (--fault): kill-host needs cluster.engine: ray"),
    (["--cluster", "ray", "--fault", "corrupt"], "scenario.fault (--fault): corrupt needs "
                                                 "cluster.engine: local"),
    (["--cluster", "ray", "--fault", "delay"], "scenario.fault (--fault): delay needs "
                                               "cluster.engine: local"),
    (["--cluster", "ray", "--fault", "kill-host", "--kill-hosts", "0"],
     "scenario.kill_hosts (--kill-hosts): must be between 1 and 256 (got '0')"),
    (["--fault", "melt"], "scenario.fault (--fault): must be one of kill, kill-host, pause"),
])
def test_cli_bad_cluster_and_host_flags_exit_2_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        args: list[str], message: str) -> None:
    code, lines = fsr_run(monkeypatch, capsys, tmp_path, *args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"fsr: error: {message}"), lines


# -- host targets and kill-host ----------------------------------------------------------------

RAY = {"cluster": {"engine": "ray"}}


def config_of(tmp: Path, **sections: object) -> Path:
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def storms_of(tmp: Path, faults: list[dict[str, object]], **sections: object) -> list[Storm]:
    return load_config(config_of(tmp, faults=faults, **{**RAY, **sections})).storms


def test_a_kill_host_is_a_kill_of_host_targets(tmp_path: Path) -> None:
    bare, named, drawn = storms_of(tmp_path, [
        {"kind": "kill-host", "at": 5},
        {"kind": "kill-host", "at": 10, "duration": "never", "targets": {"hosts": ["h1", "h2"]}},
        {"kind": "kill-host", "at": 15, "targets": {"hosts": 2}}])
    assert (bare.kind, bare.duration, bare.targets) == ("kill", 5.0, Targets(hosts=1))
    assert (named.kind, named.duration, named.targets) == ("kill", None,
                                                            Targets(hosts=("h1", "h2")))
    assert named.targets.describe() == {"hosts": ["h1", "h2"]}  # as storm_start logs it
    assert drawn.targets.describe() == {"hosts": 2}
    # the same storm as a kill of host targets
    (kill,) = storms_of(tmp_path, [{"kind": "kill", "at": 15, "targets": {"hosts": 2}}])
    assert kill == dataclasses.replace(drawn, index=0)


def test_host_targets_under_ray_and_the_hub(tmp_path: Path) -> None:
    pause, cut = storms_of(tmp_path, [
        {"kind": "pause", "at": 1, "duration": 2, "targets": {"hosts": ["h3"]}},
        {"kind": "partition", "at": 5, "duration": 2, "targets": {"hosts": 1}}])
    assert (pause.targets, cut.targets) == (Targets(hosts=("h3",)), Targets(hosts=1))
    (ioa,) = storms_of(tmp_path, [{"kind": "kill-host", "at": 1,
                                   "targets": {"hosts": 1, "hub": "include"}}],
                       scenario={"protocol": "ioa"})
    assert ioa.targets == Targets(hosts=1, hub=True)
    assert ioa.targets.describe() == {"hosts": 1, "hub": "include"}


def test_the_scenario_storm_strikes_kill_hosts_hosts() -> None:
    ray = {"cluster.engine": "ray"}
    cfg = load_config(overrides={**ray, "scenario.fault": "kill-host",
                                 "scenario.kill_hosts": 2})
    (only,) = cfg.storms
    assert (only.kind, only.duration, only.targets) == ("kill", 5.0, Targets(hosts=2))
    assert cfg.host_targets
    (loss,) = load_config(overrides={**ray, "scenario.fault": "loss"}).storms
    assert (loss.kind, loss.percent, loss.targets) == ("loss", 20.0, Targets(hosts=1))
    (part,) = load_config(overrides={**ray, "scenario.fault": "partition"}).storms
    assert part.targets == Targets(hosts=1)
    # a kill or a pause strikes agents, on a cluster as on one machine
    kill = load_config(overrides=ray)
    assert kill.storms[0].targets == Targets(fraction=0.3) and not kill.host_targets
    assert load_config().scenario.kill_hosts == 1 and not load_config().host_targets


@pytest.mark.parametrize(("sections", "message"), [
    ({"faults": [{"kind": "kill-host", "at": 1}]},
     "faults[0].kind: kill-host needs cluster.engine: ray"),
    ({"faults": [{"kind": "kill", "at": 1, "targets": {"hosts": ["h1"]}}]},
     "faults[0].targets.hosts: needs cluster.engine: ray"),
    ({"faults": [{"kind": "pause", "at": 1, "duration": 1, "targets": {"hosts": 1}}]},
     "faults[0].targets.hosts: needs cluster.engine: ray"),
    *[({**RAY, "faults": [{"kind": "kill", "at": 1, "targets": {"hosts": bad}}]},
       f"faults[0].targets.hosts: must be a non-empty list of host names or a number of hosts "
       f">= 1 (got {bad!r})") for bad in ([], 0, -1, [""], ["h1", 2], True, "h1", 1.5)],
    ({**RAY, "faults": [{"kind": "kill-host", "at": 1, "targets": {"fraction": 0.3}}]},
     "faults[0].targets: kill-host strikes hosts: must be {hosts: [host, ...]} or "
     "{hosts: n} (got {'fraction': 0.3})"),
    ({**RAY, "faults": [{"kind": "corrupt", "at": 1, "duration": 1, "percent": 5,
                         "targets": {"hosts": 1}}]},
     "faults[0].kind: corrupt needs cluster.engine: local (the link relay is single-machine "
     "only)"),
    ({**RAY, "faults": [{"kind": "delay", "at": 1, "duration": 1, "ms": 50,
                         "targets": {"fraction": 0.3}}]},
     "faults[0].kind: delay needs cluster.engine: local"),
    ({**RAY, "faults": [{"kind": "partition", "at": 1, "duration": 1,
                         "targets": {"fraction": 0.3}}]},
     "faults[0].targets: a partition under cluster.engine: ray is made between hosts: must be "
     "{hosts: [host, ...]} or {hosts: n} (got {'fraction': 0.3})"),
    ({**RAY, "faults": [{"kind": "kill", "at": 1, "targets": {"fraction": 0.3}},
                        {"kind": "loss", "at": 1, "duration": 1, "percent": 5,
                         "targets": {"ids": ["agent_1"]}}]},
     "faults[1].targets: a loss under cluster.engine: ray is made between hosts"),
])
def test_cli_refuses_what_the_engine_cannot_do_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sections: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:  # as the loader says it ...
        load_config(config_of(tmp_path, **sections))
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)
    # ... `fsr run` says it: exit 2, one line, nothing spawned
    code, lines = fsr_run(monkeypatch, capsys, tmp_path, "--config",
                          str(config_of(tmp_path, **sections)))
    assert code == 2
    assert lines == [f"fsr: error: {err.value}"]


