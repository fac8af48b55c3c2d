"""Reading, overriding and validating a configuration.

`load_config` is the only way a `Config` is made from user input: YAML file, then CLI overrides
(dotted keys), then the protocol's profile; every value is checked against its field's rule and
the first problem raises `ConfigError` with one line naming the key.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from fsr.config.schedule import ScheduleError
from fsr.config.schema import BY_ROLE, LLM_TYPES, PROTOCOLS, Config, parse_hedge
from fsr.protocols import has_hub
from fsr.workload.roles import ROLES, roles_of
from fsr.workload.service import ServiceTimeError, capacity, parse


class ConfigError(ValueError):
    """A bad configuration value; str() is the one line shown to the user."""


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"--config: no such file: {p}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config: not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(raw, dict):
            raise ConfigError("--config: the top level must be a mapping")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    cfg = from_dict(raw)
    profile = cfg.protocols.get(cfg.scenario.protocol)
    if profile:
        merged = to_dict(cfg)
        _deep_merge(merged, profile, "protocols." + cfg.scenario.protocol)
        cfg = from_dict(merged)
    cfg = hub_topology(cfg)
    check_schedule(cfg)
    if cfg.heartbeat.detector == "lifeguard" and cfg.heartbeat.membership != "swim":
        raise ConfigError("heartbeat.detector: lifeguard is SWIM's detector; it needs "
                          "heartbeat.membership: swim")
    check_recovery(cfg)
    check_cluster(cfg)
    return cfg


def hub_topology(cfg: Config) -> Config:
    """A protocol with a hub (ioa) runs its hub's star: ``full`` (the default) becomes ``star``,
    any other topology is refused, and so is a mixed mesh around it."""
    sc = cfg.scenario
    if has_hub(sc.protocol) and set(cfg.by_role.values()) - {sc.protocol}:
        raise ConfigError(f"protocols.{BY_ROLE}: {sc.protocol} routes every message through "
                          "its hub; a mixed mesh needs a peer-to-peer scenario.protocol")
    if not has_hub(sc.protocol) or sc.topology == "star":
        return cfg
    if sc.topology != "full":
        raise ConfigError(f"scenario.topology: {sc.protocol} routes every message through its "
                          f"hub, a star: full or star (got {sc.topology})")
    return dataclasses.replace(cfg, scenario=dataclasses.replace(sc, topology="star"))


def check_recovery(cfg: Config) -> None:
    """What one field's rule cannot say: the longest backoff is not below the first."""
    r = cfg.recovery
    if r.max_backoff < r.initial_backoff:
        raise ConfigError(f"recovery.max_backoff: must be >= recovery.initial_backoff "
                          f"({r.initial_backoff:g}) (got {r.max_backoff:g})")


def check_cluster(cfg: Config) -> None:
    """A Ray address on a local run would be silently ignored: refused, so `--ray-address`
    without `--cluster ray` does not run on this machine unnoticed."""
    if cfg.cluster.address is not None and cfg.cluster.engine != "ray":
        raise ConfigError(f"cluster.address: a Ray address needs cluster.engine: ray "
                          f"(got {cfg.cluster.address!r} with engine {cfg.cluster.engine})")


def check_schedule(cfg: Config) -> None:
    """The fault schedule, checked against the scenario (agents, durations) before any run, and
    kept in `cfg.storms`."""
    try:
        cfg.storms  # noqa: B018 -- expanding the schedule is the check
    except ScheduleError as exc:
        raise ConfigError(str(exc)) from exc


def from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from plain data (YAML, JSON handed to an agent, a log), its
    `auto` values resolved (`resolve_auto`)."""
    return resolve_auto(_build(Config, raw, ""))


def planned_capacity(cfg: Config) -> float | None:
    """Tasks per second the mesh serves with its busiest agent's slots all busy
    (`fsr.workload.service.capacity`); None without a service time."""
    n = cfg.scenario.agent_count
    return capacity([roles_of(i, n) for i in range(n)], cfg.workload.replication,
                    cfg.workload.slots, cfg.service)


def planned_load(cfg: Config) -> dict[str, Any]:
    """What the run is set up for (``run_start``'s `load`): its task rate, the planned capacity
    and the utilisation that rate makes of it, the slots, the service time in effect."""
    cap = planned_capacity(cfg)
    rate = cfg.scenario.task_rate
    svc = cfg.service
    return {"task_rate": rate, "capacity_per_s": None if cap is None else round(cap, 3),
            "utilisation": None if cap is None or rate is None else round(rate / cap, 3),
            "slots": cfg.workload.slots,
            "service": {k: v for k, v in svc.to_dict().items() if k != "samples"}}


def resolve_auto(cfg: Config) -> Config:
    """Fill the `auto` values, once (a resolved config stays as it is):
    * ``scenario.task_rate`` — ``workload.utilisation`` x `planned_capacity`; 4 per second when
      the work takes no time;
    * ``timeouts.hop`` — 2 s x ``scenario.failure_scale`` + 3 x the service time's p95, so a
      slow but healthy unit of work (queued behind others, even) is not re-published;
    * ``timeouts.task`` — 20 s + 5 x that p95: four stages and a retry."""
    p95 = cfg.service.quantile95()
    if cfg.timeouts.hop is None:
        cfg.timeouts.hop = round(2.0 * cfg.scenario.failure_scale + 3 * p95, 3)
    if cfg.timeouts.task is None:
        cfg.timeouts.task = round(20.0 + 5 * p95, 3)
    if cfg.scenario.task_rate is None:
        cap = planned_capacity(cfg)
        cfg.scenario.task_rate = 4.0 if cap is None else round(cfg.workload.utilisation * cap, 3)
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, f"{where}.{key}")
        elif key in base:
            base[key] = value
        else:
            raise ConfigError(f"{where}.{key}: unknown key")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{prefix}{key}: unknown key (known here: {known})")
    values = {}
    for name, f in fields.items():
        key = prefix + name
        section = f.default_factory if dataclasses.is_dataclass(f.default_factory) else None
        if section is not None:
            values[name] = _build(section, raw.get(name, {}), key + ".")
        elif name in raw:
            integer = str(f.type).startswith("int")
            values[name] = _check(key, raw[name], f.metadata.get("check", ""), integer)
    return cls(**values)


def parse_by_role(text: str) -> dict[str, str]:
    """``--by-role search=json,extract=a2a``: the mapping, checked by `load_config` after."""
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not sep or not role.strip() or not proto.strip()
                        for role, sep, proto in pairs):
        raise ConfigError(f"--by-role: must be ROLE=PROTOCOL,... (got {text!r})")
    roles = [role.strip() for role, _, _ in pairs]
    if len(set(roles)) != len(roles):
        raise ConfigError(f"--by-role: a role is given twice (got {text!r})")
    return {role.strip(): proto.strip() for role, _, proto in pairs}


def _check_by_role(key: str, value: Any) -> None:
    """``protocols.by_role``: a mapping of roles to protocols a mixed mesh can carry (not one
    with a hub: its star cannot carry the other protocols' peer-to-peer hops)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must map roles ({', '.join(ROLES)}) to protocols "
                          f"(got {value!r})")
    mixable = [p for p in PROTOCOLS if not has_hub(p)]
    for role, proto in value.items():
        if role not in ROLES:
            raise ConfigError(f"{key}.{role}: not a role (roles: {', '.join(ROLES)})")
        if proto not in mixable:
            raise ConfigError(f"{key}.{role}: must be one of {', '.join(mixable)} (a protocol "
                              f"with a hub cannot be mixed) (got {proto!r})")


def _check(key: str, value: Any, rule: str, integer: bool = False) -> Any:
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"{key}: {problem} (got {value!r})")

    for word in ("never", "auto"):
        if rule.endswith("|" + word):
            if value in (word, None):
                return None
            rule = rule[: -len(word) - 1]
    if rule == "protocol":
        if value not in PROTOCOLS:
            raise bad("must be one of " + ", ".join(PROTOCOLS))
        return value
    if rule == "llm_type":
        if value not in LLM_TYPES:
            raise bad("must be one of " + ", ".join(LLM_TYPES))
        return value
    if rule.startswith("one_of:"):
        choices = rule[len("one_of:"):].split(",")
        if value not in choices:
            raise bad("must be one of " + ", ".join(choices))
        return value
    if rule == "bool":
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if rule in ("str", "str?"):
        if value is None and rule == "str?":
            return None
        if not isinstance(value, str) or not value:
            raise bad("must be a non-empty string")
        return value
    if rule == "path?":
        if value is None:
            return None
        if not isinstance(value, str) or not os.path.isfile(value):
            raise bad("must be an existing file")
        return value
    if rule == "hedge":
        try:
            parse_hedge(value if isinstance(value, str) else "")
        except ValueError as exc:
            raise bad(str(exc)) from exc
        return value
    if rule == "service_time":
        try:
            return parse(value).to_dict()
        except ServiceTimeError as exc:
            raise ConfigError(f"{key}{'.' + exc.part if exc.part else ''}: {exc}") from exc
    if rule == "faults":
        if not isinstance(value, list):
            raise bad("must be a list of faults")
        return value
    if rule == "profiles":
        if not isinstance(value, dict) or any(k not in (*PROTOCOLS, BY_ROLE) for k in value):
            raise bad("must map protocol names (" + ", ".join(PROTOCOLS) + ") to overrides, "
                      f"and {BY_ROLE} roles to protocols")
        if BY_ROLE in value:
            _check_by_role(f"{key}.{BY_ROLE}", value[BY_ROLE])
        return value
    number = _number(value, integer)
    if number is None:
        kind = "an integer" if integer else "a number"
        raise bad(f"must be {kind}")
    if rule.startswith(">="):
        if number < float(rule[2:]):
            raise bad(f"must be >= {rule[2:]}")
    elif rule.startswith(">"):
        if number <= float(rule[1:]):
            raise bad(f"must be > {rule[1:]}")
    elif ".." in rule:
        lo, hi = (float(x) for x in rule.split(".."))
        if not lo <= number <= hi:
            raise bad(f"must be between {rule.replace('..', ' and ')}")
    return number


def _number(value: Any, integer: bool) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or value != value:  # NaN is not a number here
        return None
    if integer:
        return int(value) if float(value).is_integer() else None
    return float(value)
