"""The runner's side of a cluster run: connect to Ray as a driver, find the hosts, place one
controller (`fsr.cluster.controller.HostController`) on each, and run the agents through them.

* Hosts. The Ray nodes labelled ``fsr-host`` (`HOST_LABEL`: `fsr cluster up` labels its
  namespaces h1, h2, …), named by the label; on a cluster with no such label, every alive node,
  named by its address. Unlabelled nodes of a labelled cluster (the head that `fsr cluster up`
  runs in the root namespace, beside the runner) get no agent.
* Controllers. One actor per host, ``num_cpus=0`` and pinned to its node
  (``NodeAffinitySchedulingStrategy(soft=False)``), never restarted: a controller that dies is a
  host lost (`ev.HOST_LOST`), reported as such, and the run goes on with the others.
* Clocks. Before the first agent starts and after the last one stops, each host's clock is
  read against the runner's (`fsr.cluster.clock.measure`: Cristian's algorithm over Ray calls)
  and logged as ``clock_offset``; the metrics apply the start offsets (`fsr.metrics.clocks`).
  A kill's time, read on the victim's host, is logged on the runner's clock (minus the offset).
* Events. `poll` pulls every host's new log lines about twice a second, without blocking the
  runner's loop, and appends them to the run's log; `finish` pulls the rest. A host that dies
  loses what its agents wrote since its last pull.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, NodeDiedError, RayActorError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from fsr import events as ev
from fsr.agents.supervisor import AgentProcesses, AgentsFailed
from fsr.bus.security import key_path
from fsr.cluster.clock import ClockOffset, measure
from fsr.cluster.controller import HostController
from fsr.config import Config
from fsr.injector.process import Hit
from fsr.plan import RunPlan

HOST_LABEL = "fsr-host"
PULL_EVERY = 0.5  # s between two pulls of a host's events
# s between a strike's call and its burst: every host gets the call, then all burst at the same
# moment of the runner's clock (by each host's offset). Called at once, a loaded 96-agent run's
# three hosts burst 53 and 236 ms apart (each burst itself took 0.1 ms): Ray's delivery.
STRIKE_LEAD = 0.15
CALL_TIMEOUT = 30.0  # s a blocking call on a controller may take before its host counts as lost

Record = Callable[..., None]  # the runner's `record(event, **fields)`
# a controller that is gone or does not answer: its host is lost (a method that raised is not)
LOST = (RayActorError, NodeDiedError, GetTimeoutError)


class ClusterError(RuntimeError):
    """No Ray cluster at the address, or no host in it; str() is one line."""


@dataclass(frozen=True)
class Host:
    name: str
    node_id: str
    address: str


Processes = Callable[[Record], AgentProcesses]  # made by the runner, with its `record`


@dataclass(frozen=True)
class Cluster:
    """A joined cluster: its hosts, and where the runner listens."""

    config: Config
    hosts: list[Host]
    runner_address: str

    def placement(self) -> tuple[dict[str, str], str]:
        """For `fsr.runner.rundir.prepare_run`: host -> address, and the runner's address."""
        return {h.name: h.address for h in self.hosts}, self.runner_address

    def processes(self, plan: RunPlan) -> Processes:
        return lambda record: ClusterProcesses(plan, self.hosts, record,
                                               self.config.cluster.address)

    def leave(self) -> None:
        disconnect()


def join(cfg: Config) -> Cluster:
    """Join the cluster of ``cluster.address`` and find its hosts; a storm that names a host
    the cluster lacks is refused here, before any agent starts."""
    connect(cfg.cluster.address)
    try:
        hosts = discover()
        names = {h.name for h in hosts}
        for storm in cfg.storms:
            named = storm.targets.hosts if isinstance(storm.targets.hosts, tuple) else ()
            unknown = sorted(set(named) - names)
            if unknown:
                raise ClusterError(f"faults[{storm.index}].targets.hosts: no host "
                                   f"{unknown[0]!r} in the cluster (hosts: "
                                   f"{', '.join(sorted(names))})")
        return Cluster(cfg, hosts, driver_address())
    except BaseException:
        disconnect()
        raise


def first_line(exc: BaseException) -> str:
    """An error in one line (Ray's span many): its first non-empty one, or its type."""
    line = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return line[:300]


def _remote_clock(controller: Any) -> float:
    return float(ray.get(controller.clock.remote(), timeout=CALL_TIMEOUT))


def connect(address: str | None) -> None:
    """Join the cluster as a Ray driver (``address`` None: Ray's own discovery)."""
    try:
        ray.init(address=address or "auto", log_to_driver=False, logging_level=logging.ERROR,
                 configure_logging=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cluster.address: cannot join the Ray cluster at "
                           f"{address or 'auto'}: {first_line(exc)}") from exc


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


def discover() -> list[Host]:
    """The cluster's hosts, sorted by name (see the module's docstring)."""
    alive = [n for n in ray.nodes() if n.get("Alive")]
    labelled = [n for n in alive if (n.get("Labels") or {}).get(HOST_LABEL)]
    hosts = [Host(n["Labels"][HOST_LABEL], n["NodeID"], n["NodeManagerAddress"])
             for n in labelled] if labelled else \
        [Host(n["NodeManagerAddress"], n["NodeID"], n["NodeManagerAddress"]) for n in alive]
    if not hosts:
        raise ClusterError("cluster: the Ray cluster has no alive node")
    return sorted(hosts, key=lambda h: h.name)


def driver_address() -> str:
    """The address the runner binds: its own node's, which every host can reach."""
    return str(ray.util.get_node_ip_address())


class ClusterProcesses:
    """The agents of a cluster run (`fsr.agents.supervisor.AgentProcesses`), through one
    controller per host."""

    def __init__(self, plan: RunPlan, hosts: list[Host], record: Record,
                 address: str | None = None) -> None:
        self.plan, self.record, self.address = plan, record, address
        self.host_of = {a.node_id: a.host for a in plan.agents}
        used = sorted(set(self.host_of.values()))
        self.hosts = {h.name: h for h in hosts if h.name in used}
        actor = ray.remote(num_cpus=0, max_restarts=0)(HostController)
        self.controllers: dict[str, Any] = {
            name: actor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                h.node_id, soft=False)).remote(name, plan.run_id)
            for name, h in self.hosts.items()}
        self.lost: set[str] = set()
        self.offsets: dict[str, ClockOffset] = {}
        self.pids: dict[str, int] = {}
        self.exited: set[str] = set()
        self._log_fd = os.open(plan.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pulls: dict[Any, str] = {}  # pending pull -> its host
        self._next_pull = 0.0
        self._storms = 0
        keys = key_path(plan.run_dir)
        secret = keys.read_bytes() if keys.exists() else None
        plan_json = Path(plan.run_dir, "plan.json").read_text()
        self._each(lambda _, c: c.prepare.remote(plan_json, secret))

    # -- calls on the controllers -------------------------------------------------------------
    def _call(self, host: str, ref: Any) -> Any:
        """A blocking call's result, or None once the host is lost (logged once)."""
        try:
            return ray.get(ref, timeout=CALL_TIMEOUT)
        except LOST as exc:
            self._lose(host, exc)
            return None
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            raise AgentsFailed(f"host {host}: {type(cause).__name__}: "
                                 f"{first_line(cause)}") from exc

    def _each(self, call: Callable[[str, Any], Any], hosts: Iterable[str] | None = None
              ) -> dict[str, Any]:
        """`call(host, its controller)` on every live host (or these) at once, then the
        results: host -> result (None: the host is lost)."""
        refs = {h: call(h, self.controllers[h]) for h in (self.controllers if hosts is None
                                                           else hosts) if h not in self.lost}
        return {h: self._call(h, ref) for h, ref in refs.items()}

    def _by_host(self, node_ids: list[str]) -> dict[str, list[str]]:
        by_host: dict[str, list[str]] = {}
        for n in node_ids:
            by_host.setdefault(self.host_of[n], []).append(n)
        return by_host

    def _lose(self, host: str, exc: BaseException) -> None:
        if host in self.lost:
            return
        self.lost.add(host)
        agents = sorted(a for a, h in self.host_of.items() if h == host)
        self.exited.update(agents)
        self.record(ev.HOST_LOST, host=host, agents=agents, reason=first_line(exc))

    # -- clocks --------------------------------------------------------------------------------
    def measure_clocks(self, phase: str) -> None:
        for host, ctrl in self.controllers.items():
            if host in self.lost:
                continue
            try:
                found = measure(functools.partial(_remote_clock, ctrl))
            except LOST as exc:
                self._lose(host, exc)
                continue
            if phase == "start":
                self.offsets[host] = found
            self.record(ev.CLOCK_OFFSET, host=host, phase=phase,
                        offset_ms=round(found.offset_s * 1000, 3),
                        error_ms=round(found.error_s * 1000, 3),
                        rtt_ms=round(found.rtt_s * 1000, 3), samples=found.samples)

    def _offset_s(self, host: str) -> float:
        offset = self.offsets.get(host)
        return offset.offset_s if offset is not None else 0.0

    def _on_runner_clock(self, host: str, ts: float) -> float:
        return ts - self._offset_s(host)

    # -- AgentProcesses ------------------------------------------------------------------------
    def spawn_all(self, node_ids: list[str]) -> Iterator[tuple[str, int]]:
        """Every host starts its agents at once, one after another on each host."""
        by_host = self._by_host(node_ids)
        for started in self._each(lambda h, c: c.spawn_all.remote(by_host[h]), by_host).values():
            self.pids.update(started or {})
            self.exited.difference_update(started or {})
        return ((n, self.pids.setdefault(n, -1)) for n in node_ids)

    def spawn(self, node_id: str) -> int:
        host = self.host_of[node_id]
        pid = self._call(host, self.controllers[host].spawn.remote(node_id)) \
            if host not in self.lost else None
        if pid is None:  # its host is lost: no process, and it stays exited
            self.pids[node_id] = -1
            return -1
        self.pids[node_id] = pid
        self.exited.discard(node_id)
        return pid

    def pid(self, node_id: str) -> int:
        return self.pids[node_id]

    def alive(self, node_id: str) -> bool:
        """As of the last pull (a host reports the agents not running, `poll`)."""
        return node_id in self.pids and node_id not in self.exited

    def signal(self, node_ids: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        """Each host signals its own victims in one burst, every host at the same moment
        (`STRIKE_LEAD` from now, on each host's clock by its offset). Hits on the runner's
        clock, in time order; realtime if every host's burst was."""
        by_host, at = self._by_host(node_ids), time.time() + STRIKE_LEAD
        called = self._each(lambda h, c: c.signal.remote(by_host[h], int(sig),
                                                          at + self._offset_s(h)), by_host)
        done = {h: r for h, r in called.items() if r is not None}
        hits = sorted(((n, pid, self._on_runner_clock(h, ts)) for h, (hs, _) in done.items()
                       for n, pid, ts in hs), key=lambda hit: hit[2])
        return hits, bool(done) and all(rt for _, rt in done.values())

    def poll(self) -> None:
        """Take the pulls that are back (never waits), and ask each host again `PULL_EVERY` s
        after its last answer: a host that hangs holds up its own pulls only."""
        if self._pulls:
            ready, _ = ray.wait(list(self._pulls), num_returns=len(self._pulls), timeout=0)
            for ref in ready:
                self._take(self._pulls.pop(ref), ref)
        now = time.time()
        if now >= self._next_pull:
            self._next_pull = now + PULL_EVERY
            waiting = set(self._pulls.values())
            self._pulls.update({c.pull.remote(): h for h, c in self.controllers.items()
                                if h not in self.lost and h not in waiting})

    def _take(self, host: str, ref: Any) -> None:
        data_exited = self._call(host, ref)
        if data_exited is None:
            return
        data, exited = data_exited
        self._append(data)
        mine = {a for a, h in self.host_of.items() if h == host}
        self.exited = (self.exited - mine) | set(exited)

    def _append(self, data: bytes) -> None:
        while data:
            data = data[os.write(self._log_fd, data):]

    def network(self) -> ClusterProcesses:
        """Faults between hosts (`fsr.injector.contracts.NetworkControl`): below."""
        return self

    def begin(self) -> None:
        """The run's log is open: measure the hosts' clocks before any agent starts."""
        self.measure_clocks("start")

    def describe(self) -> dict[str, Any]:
        """The cluster, for ``run_start``."""
        return {"engine": "ray", "address": self.address,
                "hosts": {h.name: {"node_id": h.node_id, "address": h.address,
                                   "agents": sorted(a for a, n in self.host_of.items()
                                                    if n == h.name)}
                          for h in self.hosts.values()}}

    def stop_all(self) -> None:
        """Stop every agent, then bring the hosts' last events and stderr files home."""
        self._each(lambda _, c: c.stop_all.remote())
        self.finish(Path(self.plan.run_dir) / "logs")
        self.close()

    # -- faults between hosts ------------------------------------------------------------------
    def partition(self, targets: list[int]) -> str:
        return self._cut(targets, None)

    def loss(self, targets: list[int], percent: float) -> str:
        return self._cut(targets, percent)

    def _cut(self, targets: list[int], percent: float | None) -> str:
        """Cut the targets' hosts from the other hosts of the run (`fsr.cluster.netfaults`)."""
        storm, self._storms = self._storms, self._storms + 1
        by_index = {a.index: a.host for a in self.plan.agents}
        struck = {by_index[i] for i in targets}
        others = set(self.hosts) - struck
        ports = (self.plan.runner_port, max(a.hb_port for a in self.plan.agents))
        addr = {h: self.hosts[h].address for h in self.hosts}
        # each side drops what comes from the other: both directions cut on arrival
        self._each(lambda h, c: c.cut.remote(
            storm, [addr[f] for f in (others if h in struck else struck)], ports, percent),
            sorted(self.hosts))
        return str(storm)

    def clear(self, handle: str) -> object:
        dropped = self._each(lambda _, c: c.heal.remote(int(handle)))
        return sum(n for n in dropped.values() if n)

    # -- the end -------------------------------------------------------------------------------
    def finish(self, stderr_dir: Path) -> None:
        """After `stop_all`: every host's remaining events into the log, the agents' stderr
        files into `stderr_dir` (as ``<host>-<agent>.stderr``), the end clocks."""
        for ref in list(self._pulls):  # pulls in flight carry lines the next ones do not
            host = self._pulls.pop(ref)
            if host not in self.lost:
                self._take(host, ref)
        for host, result in self._each(lambda _, c: c.finish.remote()).items():
            if result is None:
                continue
            rest, stderr = result
            self._append(rest)
            for name, data in stderr.items():
                (stderr_dir / f"{host}-{name}").write_bytes(data)
        self.measure_clocks("end")

    def close(self) -> None:
        for ctrl in self.controllers.values():
            ray.kill(ctrl)
        os.close(self._log_fd)
