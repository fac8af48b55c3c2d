"""The fault schedule: which faults strike when, whom, for how long — Jepsen's nemesis schedule.

A run's faults come from the config's ``faults:`` list, or — when it is empty — from the
scenario's single storm (``kill_at``, ``kill_fraction``, ``fault``, ``fault_duration``), repeated
``storms`` times every ``storm_every`` seconds. Each entry::

    - kind: kill | kill-host | pause | partition | loss | corrupt | delay
      at: 6                # seconds after t = 0
      duration: 5          # pause / partition / loss: how long; kill: seconds until the restart
                           # (default scenario.restart_delay; "never" keeps the victims dead)
      targets: {fraction: 0.3} | {ids: [agent_1, agent_4]} | {role: search} | {holders_of: f12}
               | {hosts: [h1, h2]} | {hosts: 2}
                           # each may add hub: include | exclude (default), in a run with a
                           # hub (ioa): whether the hub is struck too; {hub: include}: it alone
      percent: 30          # loss: share of the targets' packets dropped; corrupt: of the
                           # frames to the targets with one bit flipped
      ms: 200              # delay only: added latency, and its jitter (uniform +-)
      jitter: 50
      repeat: {every: 20, count: 3}

Cluster mode (``cluster.engine: ray``, the agents on a Ray cluster's hosts) adds host targets:
``{hosts: [names]}``, those hosts' agents, or ``{hosts: n}``, n hosts drawn by the seeded RNG
(`fsr.injector.victims`); only their form is checked here, the names being the cluster's. A
``kill-host`` is a kill of host targets (default ``{hosts: 1}``; the scenario's:
``scenario.kill_hosts``), parsed into a ``kill`` storm: the rest of fsr sees, and logs, a kill.
Under ray a partition or a loss is made between hosts, so it must target hosts (the scenario's
strikes ``kill_hosts`` hosts), and corrupt and delay are refused (the link relay is
single-machine); on one machine host targets and kill-host are refused.

`storms_of` checks the schedule and turns it into `Storm`s, numbered in time order (`expand`),
once per process: a loaded config keeps them (`Config.storms`), and the runner, the injector and
every agent read them from there. A storm's victims are chosen when it strikes
(`fsr.injector.victims`), among the agents no other fault holds at that moment. A storm due after
the work phase ends never strikes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fsr.protocols import has_hub
from fsr.workload.roles import agent_ids

if TYPE_CHECKING:  # the schema reads this module for Config.storms
    from fsr.config.schema import Config

PROCESS_KINDS = ("kill", "pause")
NETWORK_KINDS = ("partition", "loss", "corrupt", "delay")
RELAY_KINDS = ("corrupt", "delay")  # done by the relay on the links (`fsr.injector.relay`)
HOST_CUTS = ("partition", "loss")  # under ray: made between hosts, by iptables in each
KINDS = PROCESS_KINDS + NETWORK_KINDS  # a Storm's
HOST_KILL = "kill-host"  # a kill of hosts: parsed into a kill with host targets (`parse_entry`)
FAULTS = ("kill", HOST_KILL, "pause", *NETWORK_KINDS)  # an entry's kind, and scenario.fault
TARGET_KEYS = ("fraction", "ids", "role", "holders_of", "hosts")
HOSTS_FORM = "{hosts: [host, ...]} or {hosts: n}"
HUB_CHOICES = ("exclude", "include")  # targets.hub


# the scenario key behind each field of the single storm built from `scenario.*`
SCENARIO_KEYS = {"faults[0].kind": "scenario.fault", "faults[0].at": "scenario.kill_at",
                 "faults[0].duration": "scenario.fault_duration",
                 "faults[0].percent": "scenario.fault_percent",
                 "faults[0].ms": "scenario.delay_ms", "faults[0].jitter": "scenario.jitter_ms",
                 "faults[0].targets.fraction": "scenario.kill_fraction",
                 "faults[0].targets.hosts": "scenario.kill_hosts",
                 "faults[0].targets.hub": "scenario.target_hub",
                 "faults[0].repeat.every": "scenario.storm_every",
                 "faults[0].repeat.count": "scenario.storms"}


class ScheduleError(ValueError):
    """A bad fault schedule; str() is one line naming the key."""


@dataclass(frozen=True)
class Targets:
    fraction: float | None = None
    ids: tuple[str, ...] = ()
    role: str | None = None
    holders_of: str | None = None
    # a cluster's hosts (cluster.engine: ray): these hosts' agents, or this many hosts drawn
    hosts: tuple[str, ...] | int | None = None
    hub: bool = False  # the run's hub is struck too (`targets.hub: include`)

    @property
    def on_hosts(self) -> bool:
        return self.hosts is not None

    def describe(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in (
            ("fraction", self.fraction), ("ids", self.ids), ("role", self.role),
            ("holders_of", self.holders_of), ("hosts", self.hosts),
            ("hub", "include" if self.hub else None))
            if v not in (None, ())}


@dataclass(frozen=True)
class Storm:
    index: int  # 0, 1, ... in time order
    kind: str
    at: float  # seconds after t = 0
    duration: float | None  # kill: until the restart (None: never); others: the fault's length
    targets: Targets
    percent: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def network(self) -> bool:
        return self.kind in NETWORK_KINDS


def _number(where: str, value: Any, low: float, high: float | None = None,
            integer: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or value < low or (high is not None and value > high):
        span = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
        raise ScheduleError(f"{where}: must be {'an integer' if integer else 'a number'} "
                            f"{span} (got {value!r})")
    return int(value) if integer else float(value)


def _targets(where: str, raw: Any, agents: list[str], hub: bool) -> Targets:
    """`hub`: the run has a hub (`fsr.protocols.has_hub`), which ``hub: include`` strikes."""
    if isinstance(raw, dict) and "hub" in raw:
        raw = dict(raw)
        choice = raw.pop("hub")
        if choice not in HUB_CHOICES:
            raise ScheduleError(f"{where}.hub: must be include or exclude (got {choice!r})")
        if choice == "include" and not hub:
            raise ScheduleError(f"{where}.hub: include needs a protocol with a hub (ioa)")
        if not raw and choice == "include":
            return Targets(hub=True)  # the hub alone
        return replace(_targets(where, raw, agents, hub), hub=choice == "include")
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in TARGET_KEYS:
        raise ScheduleError(f"{where}: must be one of {{fraction: x}}, {{ids: [...]}}, "
                            f"{{role: r}}, {{holders_of: fid}}, {{hosts: [...] | n}}, each with "
                            f"an optional hub: include | exclude (got {raw!r})")
    key, value = next(iter(raw.items()))
    if key == "hosts":
        return Targets(hosts=_hosts(f"{where}.hosts", value))
    if key == "fraction":
        return Targets(fraction=_number(f"{where}.fraction", value, 0.0, 1.0))
    if key == "ids":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ScheduleError(f"{where}.ids: must be a non-empty list of agent ids "
                                f"(got {value!r})")
        unknown = [v for v in value if v not in agents]
        if unknown:
            raise ScheduleError(f"{where}.ids: no such agent {unknown[0]!r} "
                                f"(agents: agent_0 .. agent_{len(agents) - 1})")
        return Targets(ids=tuple(value))
    if not isinstance(value, str) or not value:
        raise ScheduleError(f"{where}.{key}: must be a non-empty string (got {value!r})")
    return Targets(role=value) if key == "role" else Targets(holders_of=value)


def _hosts(where: str, value: Any) -> tuple[str, ...] | int:
    """Host targets' form only: the names are the cluster's, unknown until the run starts (the
    runner checks them then)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ScheduleError(f"{where}: must be a non-empty list of host names or a number of hosts "
                        f">= 1 (got {value!r})")


def _engine_rules(where: str, kind: str, raw_targets: Any, targets: Targets, ray: bool) -> None:
    """What a fault can be where the agents run: hosts are a Ray cluster's; under ray a cut is
    made between hosts (iptables in each), and the link relay, single-machine, is not there."""
    if targets.on_hosts and not ray:
        raise ScheduleError(f"{where}.targets.hosts: needs cluster.engine: ray")
    if ray and kind in RELAY_KINDS:
        raise ScheduleError(f"{where}.kind: {kind} needs cluster.engine: local (the link relay "
                            f"is single-machine only)")
    if ray and kind in HOST_CUTS and not targets.on_hosts:
        raise ScheduleError(f"{where}.targets: a {kind} under cluster.engine: ray is made "
                            f"between hosts: must be {HOSTS_FORM} (got {raw_targets!r})")


def parse_entry(i: int, raw: Any, agents: list[str], restart_delay: float | None,
                hub: bool = False, ray: bool = False) -> list[Storm]:
    """One ``faults:`` entry, checked, as its storms (index -1: numbered by `expand`); `hub`:
    the run has a hub; `ray`: its agents run on a Ray cluster's hosts (``cluster.engine``). A
    kill-host is a kill of host targets (``{hosts: 1}`` unless it says), and is parsed as one:
    nothing past this function tells them apart."""
    where = f"faults[{i}]"
    if not isinstance(raw, dict):
        raise ScheduleError(f"{where}: must be a mapping (got {raw!r})")
    known = ("kind", "at", "duration", "targets", "percent", "ms", "jitter", "repeat")
    extra = [k for k in raw if k not in known]
    if extra:
        raise ScheduleError(f"{where}.{extra[0]}: unknown key (known here: {', '.join(known)})")
    kind = raw.get("kind")
    if kind not in FAULTS:
        raise ScheduleError(f"{where}.kind: must be one of {', '.join(FAULTS)} (got {kind!r})")
    raw_targets = raw.get("targets")
    host_kill = kind == HOST_KILL
    if host_kill:
        if not ray:
            raise ScheduleError(f"{where}.kind: {HOST_KILL} needs cluster.engine: ray")
        kind, raw_targets = "kill", raw.get("targets", {"hosts": 1})
    at = _number(f"{where}.at", raw.get("at"), 0.0)
    if kind == "kill":
        value = raw.get("duration", restart_delay)
        duration = None if value in (None, "never") else _number(f"{where}.duration", value, 0.0)
    else:
        duration = _number(f"{where}.duration", raw.get("duration"), 0.001)
    percent = None
    if kind in ("loss", "corrupt"):
        percent = _number(f"{where}.percent", raw.get("percent"), 0.0, 100.0)
    elif "percent" in raw:
        raise ScheduleError(f"{where}.percent: only a loss or corrupt fault has a percent")
    params: dict[str, float] = {}
    if kind == "delay":
        params = {"ms": _number(f"{where}.ms", raw.get("ms"), 0.0, 60_000.0),
                  "jitter": _number(f"{where}.jitter", raw.get("jitter", 0.0), 0.0, 60_000.0)}
    else:
        extra = [k for k in ("ms", "jitter") if k in raw]
        if extra:
            raise ScheduleError(f"{where}.{extra[0]}: only a delay fault has {extra[0]}")
    targets = _targets(f"{where}.targets", raw_targets, agents, hub)
    if host_kill and not targets.on_hosts:
        raise ScheduleError(f"{where}.targets: {HOST_KILL} strikes hosts: must be {HOSTS_FORM} "
                            f"(got {raw_targets!r})")
    _engine_rules(where, kind, raw_targets, targets, ray)
    every, count = 0.0, 1
    if "repeat" in raw:
        rep = raw["repeat"]
        if not isinstance(rep, dict) or set(rep) != {"every", "count"}:
            raise ScheduleError(f"{where}.repeat: must be {{every: seconds, count: n}} "
                                f"(got {rep!r})")
        every = _number(f"{where}.repeat.every", rep["every"], 0.001)
        count = int(_number(f"{where}.repeat.count", rep["count"], 1, 1000, integer=True))
        longest = duration if duration is not None else 0.0
        if count > 1 and every <= longest:
            raise ScheduleError(f"{where}.repeat.every: must exceed the fault's duration "
                                f"({longest:g} s), so a storm never strikes victims still down")
    return [Storm(-1, kind, at + n * every, duration, targets, percent, params)
            for n in range(count)]


def expand(entries: list[Storm]) -> list[Storm]:
    ordered = sorted(entries, key=lambda s: s.at)
    return [Storm(i, s.kind, s.at, s.duration, s.targets, s.percent, s.params) for i, s in
            enumerate(ordered)]


def storms_of(config: Config) -> list[Storm]:
    """The run's storms, checked: the first problem raises `ScheduleError`. Read them as
    `Config.storms`, which keeps them."""
    sc = config.scenario
    agents = agent_ids(sc.agent_count)
    restart = sc.restart_delay
    hub = has_hub(sc.protocol)
    ray = config.cluster.engine == "ray"
    raw_faults = config.faults
    if raw_faults:
        if not isinstance(raw_faults, list):
            raise ScheduleError(f"faults: must be a list of faults (got {raw_faults!r})")
        entries = [s for i, raw in enumerate(raw_faults)
                   for s in parse_entry(i, raw, agents, restart, hub, ray)]
    else:
        # a kill-host, and a cut under ray (made between hosts), strike kill_hosts hosts
        on_hosts = sc.fault == HOST_KILL or (ray and sc.fault in HOST_CUTS)
        targets = {"hosts": sc.kill_hosts} if on_hosts else {"fraction": sc.kill_fraction}
        single: dict[str, Any] = {"kind": sc.fault, "at": sc.kill_at,
                                  "targets": {**targets, "hub": sc.target_hub}}
        if sc.fault in ("kill", HOST_KILL):
            single["duration"] = "never" if restart is None else restart
        else:
            single["duration"] = sc.fault_duration
        if sc.fault in ("loss", "corrupt"):
            single["percent"] = sc.fault_percent
        if sc.fault == "delay":
            single["ms"], single["jitter"] = sc.delay_ms, sc.jitter_ms
        if sc.storms > 1:
            single["repeat"] = {"every": sc.storm_every, "count": sc.storms}
        try:
            entries = parse_entry(0, single, agents, restart, hub, ray)
        except ScheduleError as exc:  # name the scenario key the single storm's value came from
            key, rest = str(exc).split(":", 1)
            raise ScheduleError(SCENARIO_KEYS.get(key, key) + ":" + rest) from exc
    kinds = {s.kind for s in entries}
    relayed = sorted(kinds & set(RELAY_KINDS))
    if relayed and kinds & {"partition", "loss"}:
        raise ScheduleError(f"faults: {relayed[0]} cannot share a schedule with partition or "
                            f"loss (the relay it puts on the links would carry their packets "
                            f"past the rules)")
    # A storm due after the work phase never strikes (the spec's kill_at 60 s with a 30 s run).
    return expand([s for s in entries if s.at < sc.duration])


__all__ = ["FAULTS", "HOST_CUTS", "HOST_KILL", "HUB_CHOICES", "KINDS", "NETWORK_KINDS",
           "PROCESS_KINDS", "RELAY_KINDS", "ScheduleError", "Storm", "Targets", "expand",
           "parse_entry", "storms_of"]
