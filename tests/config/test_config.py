"""Config validation: one line naming the key, and the CLI's exit code 2 with nothing spawned."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsr.config import ConfigError, load_config
from tests.helpers import run_fsr


@pytest.mark.parametrize(("overrides", "message"), [
    ({"scenario.kill_fraction": 1.5}, "scenario.kill_fraction: must be between 0 and 1"),
    ({"scenario.agent_count": "x"}, "scenario.agent_count: must be an integer"),
    ({"scenario.agent_count": 0}, "scenario.agent_count: must be between 1 and 256"),
    ({"scenario.protocol": "smtp"}, "scenario.protocol: must be one of"),
    ({"scenario.topology": "mesh"}, "scenario.topology: must be one of full, star, ring"),
    ({"heartbeat.interval": -1}, "heartbeat.interval: must be > 0"),
    ({"heartbeat.fast_path": "yes"}, "heartbeat.fast_path: must be true or false"),
    ({"heartbeat.detector": "psychic"}, "heartbeat.detector: must be one of fixed, phi, phi-exp"),
    ({"heartbeat.phi_threshold": 0.1}, "heartbeat.phi_threshold: must be between 0.5 and 100"),
    ({"heartbeat.phi_min_std": 0}, "heartbeat.phi_min_std: must be between 0.001 and 10"),
    ({"heartbeat.detector": "lifeguard"}, "heartbeat.detector: lifeguard is SWIM's detector"),
    ({"scenario.colour": 1}, "scenario.colour: unknown key"),
    ({"llm.model.type": "gpt"}, "llm.model.type: must be one of offline, openai, local"),
    ({"scenario.target_hub": "both"}, "scenario.target_hub: must be one of exclude, include"),
    ({"scenario.target_hub": "include"},
     "scenario.target_hub: include needs a protocol with a hub"),
    ({"scenario.protocol": "ioa", "scenario.topology": "ring"},
     "scenario.topology: ioa routes every message through its hub, a star: full or star"),
    ({"protocols.by_role": ["json"]}, "protocols.by_role: must map roles"),
    ({"protocols.by_role": {"planner": "json"}}, "protocols.by_role.planner: not a role"),
    ({"protocols.by_role": {"search": "smtp"}}, "protocols.by_role.search: must be one of"),
    ({"protocols.by_role": {"search": "ioa"}},
     "protocols.by_role.search: must be one of json, a2a, anp, acp, agora (a protocol with a hub"),
    ({"scenario.protocol": "ioa", "protocols.by_role": {"search": "json"}},
     "protocols.by_role: ioa routes every message through its hub"),
])
def test_bad_values_name_the_key(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(overrides=overrides)


def test_defaults_are_the_spec_timeline() -> None:
    cfg = load_config()
    assert (cfg.scenario.agent_count, cfg.scenario.kill_fraction) == (8, 0.3)
    assert (cfg.scenario.kill_at, cfg.scenario.duration) == (60.0, 120.0)
    assert load_config(overrides={"scenario.restart_delay": "never"}).scenario.restart_delay is None


def test_yaml_file_and_profile(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("scenario:\n  protocol: json\nprotocols:\n  json:\n"
                    "    heartbeat:\n      interval: 2.5\n")
    assert load_config(path).heartbeat.interval == 2.5


@pytest.mark.parametrize("args", [
    ["--kill-fraction", "2"], ["--agent-count", "many"], ["--protocol", "smtp"],
    ["--no-such-flag"], ["--duration", "-5"], ["--config", "/does/not/exist.yaml"],
    ["--detector", "psychic"], ["--target-hub", "include"],
    ["--protocol", "ioa", "--topology", "random-k"], ["--by-role", "search"],
    ["--by-role", "search=json,search=a2a"], ["--by-role", "search=smtp"],
])
def test_cli_bad_input_exits_2_with_one_line_and_spawns_nothing(tmp_path: Path,
                                                                args: list[str]) -> None:
    out = tmp_path / "run"
    proc = run_fsr("run", *args, "--out", str(out), timeout=30)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fsr: error:"), proc.stderr
    assert not out.exists()  # no run folder, so no plan, no agent was spawned


def test_bad_yaml_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("timeouts:\n  hop: zero\n")
    proc = run_fsr("run", "--config", str(path), "--out", str(tmp_path / "r"), timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "fsr: error: timeouts.hop: must be a number (got 'zero')"


def test_example_config_is_the_defaults() -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    from fsr.config import to_dict

    assert to_dict(load_config(example)) == to_dict(load_config())


def test_every_config_flag_is_an_option_of_run_and_names_a_config_key() -> None:
    import dataclasses
    import inspect
    import typing

    from fsr import cli
    from fsr.config.schema import Config

    assert sorted(set(cli.CONFIG_FLAGS) - set(inspect.signature(cli.run).parameters)) == []
    sections = typing.get_type_hints(Config)
    for key in cli.CONFIG_FLAGS.values():
        section, name = key.split(".")
        assert name in {f.name for f in dataclasses.fields(sections[section])}, key


def test_a_protocol_with_a_hub_runs_its_star() -> None:
    assert load_config(None, {"scenario.protocol": "ioa"}).scenario.topology == "star"
    assert load_config(None, {"scenario.protocol": "ioa",
                              "scenario.topology": "star"}).scenario.topology == "star"
    assert load_config(None).scenario.topology == "full"


def test_a_mixed_mesh_gives_each_role_its_protocol() -> None:
    from fsr.plan import build_agents

    cfg = load_config(None, {"scenario.protocol": "acp",
                             "protocols.by_role": {"search": "json", "triple": "a2a"}})
    assert cfg.protocol_label == "mix-json-acp-a2a-acp"
    assert [cfg.protocol_of(a.roles) for a in build_agents(8, 9100)] == [
        "json", "acp", "a2a", "acp"] * 2
    assert cfg.protocol_of([]) == "acp"  # the runner, a hub: scenario.protocol
    assert load_config(None, {"protocols.by_role": {"search": "json"}}).protocol_label == "json"
