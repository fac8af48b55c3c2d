"""The run plan: who the agents are, which tool each runs, which ports they own; and the
runner's id.

The runner writes it once into the run folder; every agent process reads it at start, so all of
them agree on names, roles and ports without a discovery protocol. It sits at the top of the
package because every side reads it: the agents, the runner and the injector.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RUNNER_ID = "runner"


@dataclass(frozen=True)
class AgentSpec:
    node_id: str
    index: int
    roles: list[str]
    data_port: int
    hb_port: int


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    run_dir: str
    log_path: str
    runner_port: int
    agents: list[AgentSpec]
    config: dict[str, Any]
    # each agent's neighbours (`fsr.bus.topology`); absent in plans of older runs: full mesh
    neighbours: dict[str, list[str]] | None = None

    def keys(self) -> dict[str, tuple[bytes, bytes]] | None:
        """The run's CURVE keys (`fsr.bus.security`), or None under security "none"."""
        if self.config["scenario"].get("security", "none") != "curve":
            return None
        from fsr.bus.security import key_path, read_run_keys

        return read_run_keys(key_path(self.run_dir))

    def peers_of(self, node_id: str) -> list[str]:
        if self.neighbours is None:
            return [a.node_id for a in self.agents if a.node_id != node_id]
        return self.neighbours[node_id]

    def agent(self, node_id: str) -> AgentSpec:
        return next(a for a in self.agents if a.node_id == node_id)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> RunPlan:
        raw = json.loads(Path(path).read_text())
        raw["agents"] = [AgentSpec(**a) for a in raw["agents"]]
        return cls(**raw)
