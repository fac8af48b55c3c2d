"""The run plan: who the agents are, which tool each runs (`fsr.workload.roles`), which ports
they own, and the run's typed config; and the runner's id.

The runner writes it once into the run folder; every agent process reads it at start, so all of
them agree on names, roles, ports and config without a discovery protocol. The config is
serialised once (`save`) and rebuilt once per process (`load`: `fsr.config.from_dict`). It sits at
the top of the package because every side reads it: the agents, the runner and the injector.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from fsr.config import Config, from_dict, to_dict
from fsr.protocols import HUB_ID
from fsr.workload.roles import agent_id, roles_of

RUNNER_ID = "runner"


def port_is_free(port: int) -> bool:
    """Nothing listens on `port`. Connections in TIME_WAIT on it do not count: libzmq binds
    with SO_REUSEADDR, and so does this probe (a big run's previous run leaves thousands)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(base: int, count: int, limit: int = 9999) -> int:
    """First port p >= base such that p .. p+count-1 are all free on loopback."""
    start = base
    while start + count - 1 <= limit:
        taken = next((p for p in range(start, start + count) if not port_is_free(p)), None)
        if taken is None:
            return start
        start = taken + 1
    raise OSError(f"no block of {count} free ports between {base} and {limit}")


def build_agents(agent_count: int, first_port: int, hub: bool = False) -> list[AgentSpec]:
    """Agent i owns data port first_port + 2i and heartbeat port first_port + 2i + 1; a `hub`
    (`fsr.protocols.HUB_ID`, no roles) comes last, as agent number `agent_count`."""
    specs = [(agent_id(i), roles_of(i, agent_count)) for i in range(agent_count)]
    if hub:
        specs.append((HUB_ID, []))
    return [AgentSpec(node_id, i, roles, first_port + 2 * i, first_port + 2 * i + 1)
            for i, (node_id, roles) in enumerate(specs)]


@dataclass(frozen=True)
class AgentSpec:
    node_id: str
    index: int
    roles: list[str]
    data_port: int
    hb_port: int
    host: str = "local"  # the host it runs on: a cluster's (`fsr.cluster`), or this machine
    address: str = "127.0.0.1"  # the address it binds: its host's


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    run_dir: str
    log_path: str
    runner_port: int
    agents: list[AgentSpec]
    config: Config
    # each agent's neighbours (`fsr.bus.topology`); absent in plans of older runs: full mesh
    neighbours: dict[str, list[str]] | None = None
    runner_address: str = "127.0.0.1"  # the runner's bind address: a cluster's driver host

    def keys(self) -> dict[str, tuple[bytes, bytes]] | None:
        """The run's CURVE keys (`fsr.bus.security`), or None under security "none"."""
        if self.config.scenario.security != "curve":
            return None
        # deferred: only a CURVE run needs the security module (and its zmq.auth import)
        from fsr.bus.security import key_path, read_run_keys

        return read_run_keys(key_path(self.run_dir))

    def peers_of(self, node_id: str) -> list[str]:
        if self.neighbours is None:
            return [a.node_id for a in self.agents if a.node_id != node_id]
        return self.neighbours[node_id]

    def agent(self, node_id: str) -> AgentSpec:
        return next(a for a in self.agents if a.node_id == node_id)

    def protocols(self) -> dict[str, str]:
        """The protocol every node speaks on its inbox (`Config.protocol_of`), the runner's
        included: one entry per node, the same protocol throughout unless the mesh is mixed
        (``protocols.by_role``)."""
        cfg = self.config
        return {RUNNER_ID: cfg.scenario.protocol,
                **{a.node_id: cfg.protocol_of(a.roles) for a in self.agents}}

    def save(self, path: Path) -> None:
        raw = {f: getattr(self, f) for f in self.__dataclass_fields__}
        raw["agents"] = [asdict(a) for a in self.agents]
        raw["config"] = to_dict(self.config)
        path.write_text(json.dumps(raw, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> RunPlan:
        raw = json.loads(Path(path).read_text())
        raw["agents"] = [AgentSpec(**a) for a in raw["agents"]]
        raw["config"] = from_dict(raw["config"])
        return cls(**raw)
