"""The run configuration: typed sections with their defaults and the rule each value must obey.

Every time in the scenario is a value here (seconds), so tests can compress the whole storm into
a few seconds while the defaults stay the spec's (kill at 60 s of a 120 s run).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from typing import Any, TypeVar

from fsr.config.schedule import FAULTS, RELAY_KINDS, Storm, storms_of
from fsr.protocols import REGISTRY
from fsr.workload.roles import ROLES
from fsr.workload.service import DEFAULT as SERVICE_DEFAULT
from fsr.workload.service import ServiceTime, parse

PROTOCOLS = tuple(REGISTRY)  # registering a framing makes it a valid scenario.protocol
BY_ROLE = "by_role"  # the key of `protocols` that makes a mixed mesh
LLM_TYPES = ("offline", "openai", "local")
T = TypeVar("T")


def protocol_label(protocol: str, by_role: Mapping[str, str]) -> str:
    """What a run's protocol is called in its id, metrics and reports: ``scenario.protocol``,
    or for a mixed mesh ``mix-`` and each role's protocol in stage order
    (``mix-json-a2a-anp-agora``: search json, extract a2a, triple anp, reason agora)."""
    mix = [by_role.get(role, protocol) for role in ROLES]
    return protocol if set(mix) == {protocol} else "mix-" + "-".join(mix)


def resolved(value: T | None, key: str) -> T:
    """An `auto` value (None in the dataclass) once `fsr.config.load.resolve_auto` has filled
    it, as every loaded config has: the type says so, and a config built by hand fails here."""
    if value is None:
        raise ValueError(f"{key}: auto was not resolved (load the config with fsr.config.load)")
    return value


def _f(default: Any, check: str = "", help: str = "", flag: bool | str = False,
       option: str = "") -> Any:
    """A field with a validation rule (read by `fsr.config.load`) and its help; `flag`: `fsr run`
    takes it as an option (`flags`), whose help is the field's, or this text where the flag's
    form differs from the config value's; `option`: the option's name where the field's would
    not say what it sets on the command line (``cluster.engine`` is ``--cluster``)."""
    factory = None
    if isinstance(default, list | dict):
        factory, default = (lambda d=default: type(d)(d)), None
    meta = {"check": check, "help": help, "flag": flag, "option": option}
    if factory:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Scenario:
    agent_count: int = _f(8, "1..256", "number of agent processes", flag=True)
    protocol: str = _f("json", "protocol", "framing on the wire: " + " | ".join(PROTOCOLS),
                       flag=True)
    kill_fraction: float = _f(0.3, "0..1", "share of agents SIGKILLed at kill_at", flag=True)
    target_hub: str = _f(
        "exclude", "one_of:exclude,include",
        "a protocol with a hub (ioa): whether the scenario's storm strikes the hub too, besides "
        "kill_fraction of the other agents (faults[].targets.hub)", flag=True)
    duration: float = _f(120.0, ">0", "seconds of task submission after the broadcast (t = 0)",
                         flag=True)
    kill_at: float = _f(60.0, ">=0", "seconds after t = 0 when the fail storm strikes", flag=True)
    restart_delay: float | None = _f(
        5.0, ">=0|never", "seconds before a victim is restarted; 'never' keeps it dead",
        flag=True)
    seed: int = _f(42, "int", "seeds victims, workload and generated documents", flag=True)
    task_rate: float | None = _f(
        None, ">0|auto", "tasks submitted per second, at fixed intervals; auto: "
        "workload.utilisation x the mesh's capacity (4 without a service time)", flag=True)
    base_port: int = _f(9100, "1024..9990", "first port tried; the run takes a free 9xxx block")
    fault: str = _f("kill", "one_of:" + ",".join(FAULTS),
                    "kill: SIGKILL (restart after restart_delay); kill-host (cluster.engine: "
                    "ray): a kill of every agent of kill_hosts hosts; pause: SIGSTOP, then "
                    "SIGCONT; partition: cut off from the other agents; loss: fault_percent of "
                    "packets (under ray both strike kill_hosts hosts); corrupt: bit flips; "
                    "delay: delay_ms +- jitter_ms on their links", flag=True)
    kill_hosts: int = _f(1, "1..256", "hosts a storm of the scenario's strikes, drawn by the "
                         "seeded RNG, in place of kill_fraction: a kill-host's, and a partition's "
                         "or loss's under cluster.engine: ray", flag=True)
    fault_duration: float = _f(10.0, ">0", "seconds a pause, partition or loss lasts")
    fault_percent: float = _f(20.0, "0..100", "loss: share of the victims' packets dropped; "
                              "corrupt: share of the frames to them with one bit flipped")
    delay_ms: float = _f(100.0, "0..60000", "delay: latency added to the victims' links (ms)")
    jitter_ms: float = _f(20.0, "0..60000", "delay: +- uniform jitter on that latency (ms)")
    storms: int = _f(1, "1..1000", "storms of the scenario's fault, the first at kill_at",
                     flag=True)
    storm_every: float = _f(30.0, ">0", "seconds between storms when storms > 1", flag=True)
    failure_handling: str = _f(
        "native", "one_of:native,uniform",
        "native: each protocol's own liveness/in-flight/reconnection design; uniform: json's",
        flag=True)
    security: str = _f(
        "curve", "one_of:curve,none",
        "curve: CurveZMQ with per-run keys on every socket; none: no authentication (trusts "
        "every local process)", flag=True)
    topology: str = _f(
        "full", "one_of:full,star,ring,random-k",
        "who connects to whom: full mesh | star (hub agent_0) | ring | random-k (degree seeded "
        "peers each); hops to a role no neighbour holds are relayed. A protocol with a hub "
        "(ioa) runs its hub's star (full or star)", flag=True)
    degree: int = _f(4, "1..64", "random-k: peers each agent draws (links are two-way)", flag=True)
    failure_scale: float = _f(
        1.0, ">0", "factor on every time of a native design (--quick compresses them alike)")


@dataclass
class Heartbeat:
    interval: float = _f(1.0, ">0", "seconds between heartbeats on the PUB channel")
    liveness: int = _f(3, "1..100", "missed heartbeats before a peer is suspected dead")
    fast_path: bool = _f(False, "bool", "also suspect a peer on a ZeroMQ disconnect event")
    detector: str = _f(
        "fixed", "one_of:fixed,phi,phi-exp,lifeguard",
        "when a silent peer is suspected (fsr.bus.detectors): fixed (interval x liveness, "
        "Paranoid Pirate) | phi (phi accrual as Akka's PhiAccrualFailureDetector) | phi-exp "
        "(Cassandra's exponential phi) | lifeguard (membership swim only: memberlist's "
        "Lifeguard, fsr.bus.lifeguard; the runner's heartbeat view stays fixed)", flag=True)
    phi_threshold: float = _f(8.0, "0.5..100", "phi and phi-exp: suspect once phi crosses this "
                              "(Akka's threshold, Cassandra's phi_convict_threshold: 8)")
    phi_pause: float = _f(3.0, "0..100", "phi: acceptable heartbeat pause, in heartbeat "
                          "intervals (Akka's acceptable-heartbeat-pause 3 s at its 1 s interval)")
    phi_min_std: float = _f(0.1, "0.001..10", "phi: least standard deviation of the "
                            "inter-arrival times, in heartbeat intervals (Akka's "
                            "min-std-deviation 100 ms at its 1 s interval)")
    starvation_guard: bool = _f(
        False, "bool", "do not count the time this node itself waited for a CPU (Linux "
        "schedstat run_delay of its loop and ZeroMQ I/O threads) against a silent peer, as "
        "Cassandra marks no node down after a local pause (fsr.bus.starvation)")
    membership: str = _f(
        "pubsub", "one_of:pubsub,swim",
        "agents' membership: pubsub (every heartbeat to every neighbour, Paranoid Pirate) | "
        "swim (SWIM probes and gossip as memberlist: O(N) messages a period); the runner "
        "always watches the agents' heartbeats", flag=True)


@dataclass
class Timeouts:
    hop: float | None = _f(
        None, ">0|auto", "seconds before a stage or lookup hop is re-published (json's "
        "request timeout); auto: 2 x scenario.failure_scale + 3 x the service time's p95")
    task: float | None = _f(
        None, ">0|auto", "seconds before the runner marks a task timed_out; auto: 20 + 5 x "
        "the service time's p95")
    ready: float = _f(60.0, ">0", "seconds allowed for all agents to become ready")
    max_attempts: int = _f(4, "1..50", "sends of one hop before the task is failed")


@dataclass
class Workload:
    document: str | None = _f(None, "path?", "document JSON or QA JSONL; default: bundled Gaia doc")
    replication: int = _f(2, "1..50", "agents holding each fragment")
    top_k: int = _f(3, "1..50", "passages search returns")
    service_time: dict[str, Any] = _f(
        dict(SERVICE_DEFAULT), "service_time",
        "how long each unit of work (a lookup, an extract/triple/reason call) takes: {dist: "
        "none | fixed (seconds) | lognormal (median, p95) | replay (log)}; default: LLMPerf's "
        "Llama-2-70B end-to-end latency (fsr.workload.service); offline tools only",
        flag="each unit of work's time: none | fixed:S | lognormal:MEDIAN:P95 | replay:LOG "
             "(default lognormal:2.26:3.13, LLMPerf's Llama-2-70B)")
    slots: int = _f(32, "1..1024", "units of work an agent runs at once (an LLM client's "
                    "concurrency); more wait in its queue", flag=True)
    utilisation: float = _f(0.6, "0..10", "scenario.task_rate auto: this share of the "
                            "mesh's capacity (agents per role x slots / service time)")


def parse_hedge(value: str) -> float | None:
    """``off`` -> None; ``pNN`` (0 < NN < 100, decimals allowed) -> NN / 100; else ValueError."""
    if value == "off":
        return None
    if value.startswith("p"):
        try:
            q = float(value[1:])
        except ValueError:
            q = math.nan
        if 0 < q < 100:
            return q / 100
    raise ValueError("must be off or pNN, a percentile between 0 and 100 (e.g. p95)")


@dataclass
class RecoveryCfg:
    """What a node does beyond its protocol's design to recover: hedged requests
    (`fsr.agents.hedge`), and how it paces its reconnection handshakes (`fsr.agents.pacing`,
    where each default's source is cited: gRPC's connection backoff, grpc/grpc
    doc/connection-backoff.md; Consul's limits on connection churn, hashicorp/consul
    agent/router/manager.go and agent/config/default.go)."""

    hedge: str = _f("off", "hedge", "hedged requests (fsr.agents.hedge; Dean & Barroso, The Tail "
                    "at Scale): off | pNN — a stage's copy to another agent of the role once it "
                    "has waited past the NNth percentile of the stage's recent latencies; the "
                    "first answer wins", flag=True)
    reconnect: str = _f(
        "immediate", "one_of:immediate,batched",
        "immediate: every handshake at once, asked again after 0.25 s doubling up to the hop "
        "timeout; batched: admitted by a token bucket (rate, burst) with at most burst in "
        "progress, each attempt waiting a jittered exponential backoff (gRPC's) for its answer",
        flag=True)
    initial_backoff: float = _f(
        1.0, ">0", "batched: seconds the first attempt waits for its answer, x "
        "scenario.failure_scale (gRPC INITIAL_BACKOFF)")
    multiplier: float = _f(1.6, "1..100", "batched: each wait is the last x this (gRPC "
                           "MULTIPLIER)")
    jitter: float = _f(0.2, "0..1", "batched: each wait varies uniformly by +- this share of "
                       "it, from an RNG seeded by scenario.seed and the node (gRPC JITTER)")
    max_backoff: float = _f(120.0, ">0", "batched: the longest wait, x scenario.failure_scale "
                            "(gRPC MAX_BACKOFF); at least initial_backoff")
    rate: float = _f(64.0, ">0", "batched: handshake attempts a node starts a second, on "
                     "average (token bucket; Consul's newRebalanceConnsPerSecPerServer)")
    burst: int = _f(100, "1..100000", "batched: the bucket's depth, and the most attempts a "
                    "node has in progress at once (Consul's rpc_max_conns_per_client)")

    @property
    def hedge_quantile(self) -> float | None:
        return parse_hedge(self.hedge)


@dataclass
class MetricsCfg:
    reconnect_window: float = _f(30.0, ">0", "seconds after the fault counted in bytes_reconnect")
    steady_window: float | None = _f(
        None, ">0|auto", "rolling window (s) of the steady-state check; auto: long enough for "
        "the pre-fault rate to end the tasks a window needs to decide (17 at a band of 0.1), "
        "at most a third of the post-fault period")
    steady_step: float = _f(1.0, ">0", "grid step (s) of the steady-state check")
    steady_band: float = _f(0.1, "0..1", "allowed relative deviation from the pre-fault baseline")
    success: str = _f("correct", "one_of:correct,found,answered",
                      "what success_rate_drop and the steady state count as success")


@dataclass
class Model:
    type: str = _f("offline", "llm_type", "offline | openai | local")
    name: str = _f("gpt-4o-mini", "str", "model name sent to the OpenAI-compatible API")
    base_url: str | None = _f(None, "str?", "endpoint; OPENAI_BASE_URL wins")
    openai_api_key: str | None = _f(None, "str?", "prefer the OPENAI_API_KEY env var")
    timeout: float = _f(30.0, ">0", "seconds per LLM call")
    max_retries: int = _f(2, "0..10", "retries per LLM call, with backoff")
    concurrency: int = _f(2, "1..64", "LLM calls in flight per agent")


@dataclass
class Llm:
    model: Model = field(default_factory=Model)


ENGINES = ("local", "ray")
PLACEMENTS = ("spread", "pack")  # `fsr.cluster.placement.place`


@dataclass
class Cluster:
    """Where the agents run: this machine's processes, or the hosts of a Ray cluster
    (`fsr.cluster`), which only places and controls them (ZeroMQ stays the data path)."""

    engine: str = _f("local", "one_of:" + ",".join(ENGINES),
                     "local: every agent a process of this machine | ray: the agents spread over "
                     "the hosts of a Ray cluster (fsr.cluster)", flag=True, option="cluster")
    address: str | None = _f(
        None, "str|auto", "ray: the cluster's address (host:port, or ray://host:port); auto: "
        "Ray's own discovery (RAY_ADDRESS, else a cluster started on this machine)",
        flag=True, option="ray_address")
    placement: str = _f(
        "spread", "one_of:" + ",".join(PLACEMENTS),
        "ray: spread (agent i on host i mod hosts) | pack (the hosts filled in order, "
        "ceil(agents / hosts) each)", flag=True)


@dataclass
class Config:
    scenario: Scenario = field(default_factory=Scenario)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    timeouts: Timeouts = field(default_factory=Timeouts)
    workload: Workload = field(default_factory=Workload)
    recovery: RecoveryCfg = field(default_factory=RecoveryCfg)
    metrics: MetricsCfg = field(default_factory=MetricsCfg)
    llm: Llm = field(default_factory=Llm)
    cluster: Cluster = field(default_factory=Cluster)
    # Per-protocol overrides, e.g. {"anp": {"heartbeat": {"interval": 2.0}}}. Empty by default so
    # that every protocol runs with the same heartbeat design unless a profile says otherwise.
    # ... and `by_role` (a mixed mesh): {"search": "json", "extract": "a2a", ...}
    protocols: dict[str, Any] = _f({}, "profiles", "per-protocol config overrides; by_role: "
                                   "the protocol of each role's agents (a mixed mesh)")
    # The fault schedule as given (`fsr.config.schedule`); empty: the scenario's storm(s).
    faults: list[Any] = _f([], "faults", "fault schedule: [{kind, at, duration, targets, ...}]")

    @property
    def by_role(self) -> dict[str, str]:
        """``protocols.by_role``: the protocol each role's agents speak; a role not in it, and a
        node with no role (the runner, a hub), speaks ``scenario.protocol``."""
        return dict(self.protocols.get(BY_ROLE) or {})

    @property
    def protocol_label(self) -> str:
        return protocol_label(self.scenario.protocol, self.by_role)

    def protocol_of(self, roles: Sequence[str]) -> str:
        """The protocol of an agent holding `roles`: its first role's (agents hold one role
        from four agents up; below, the first of the roles dealt to it)."""
        return self.by_role.get(roles[0], self.scenario.protocol) if roles \
            else self.scenario.protocol

    @cached_property
    def storms(self) -> list[Storm]:
        """The schedule, checked and expanded once (`load_config` reads it first, so a bad
        schedule is refused before anything runs) and kept: not a field, so it is never
        serialised; a plan's config, rebuilt in an agent, expands it there once."""
        return storms_of(self)

    @cached_property
    def service(self) -> ServiceTime:
        """The work's emulated service time, parsed once; none with an LLM backend, whose calls
        are the work."""
        if self.llm.model.type != "offline":
            return ServiceTime("none")
        return parse(self.workload.service_time)

    @property
    def network_faults(self) -> bool:
        """Some storm cuts or degrades links (the run needs its network namespace)."""
        return any(s.network for s in self.storms)

    @property
    def relay_faults(self) -> bool:
        """Some storm is done by the link relay (`fsr.injector.relay`)."""
        return any(s.kind in RELAY_KINDS for s in self.storms)

    @property
    def host_targets(self) -> bool:
        """Some storm strikes hosts (``targets.hosts``, a kill-host): the run's hosts must be
        known to resolve them (`fsr.injector.victims`); only under ``cluster.engine: ray``."""
        return any(s.targets.on_hosts for s in self.storms)


def flags() -> dict[str, tuple[str, str]]:
    """The config values `fsr run` takes as options: option name (the field's, unless its
    `option` says another) -> (the key it sets, its help), in the schema's order."""
    found: dict[str, tuple[str, str]] = {}
    for section in fields(Config):
        if not is_dataclass(section.default_factory):
            continue
        for f in fields(section.default_factory):
            flag = f.metadata.get("flag")
            if flag:
                name = f.metadata.get("option") or f.name
                if name in found:
                    raise ValueError(f"{name}: two config values would share the option")
                found[name] = (f"{section.name}.{f.name}",
                               flag if isinstance(flag, str) else f.metadata["help"])
    return found
