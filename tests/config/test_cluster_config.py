"""Cluster mode's config: the ``cluster`` section and its flags, validated like every key — one
line naming the key, exit 2 from `fsr run`, nothing spawned."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fsr import cli
from fsr.config import ConfigError, load_config
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
])
def test_cli_bad_cluster_flags_exit_2_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        args: list[str], message: str) -> None:
    code, lines = fsr_run(monkeypatch, capsys, tmp_path, *args)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"fsr: error: {message}"), lines
