"""The run folder: ``failstorm_metrics.json``, ``logs/fail_storm_<run_id>.jsonl``, ``workspaces/``.

Each run gets its own folder (``--out`` or a new timestamped one under ``runs/``); an existing
non-empty folder is refused, so nothing from one run overwrites another.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fsr.bus.security import write_run_keys
from fsr.bus.topology import build_topology
from fsr.cluster.placement import place
from fsr.config import Config, ConfigError
from fsr.plan import RUNNER_ID, RunPlan, allocate_ports, build_agents
from fsr.protocols import HUB_ID, has_hub

METRICS_FILE = "failstorm_metrics.json"


def prepare_run(cfg: Config, out: str | None, hosts: Mapping[str, str] | None = None,
                runner_address: str = "127.0.0.1") -> tuple[RunPlan, Path]:
    """The run folder and plan; `hosts` (a cluster's: host -> address): where the agents go,
    by ``cluster.placement`` (`fsr.cluster.placement`), and where the runner listens."""
    sc = cfg.scenario
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{cfg.protocol_label}-{secrets.token_hex(2)}"
    run_dir = Path(out) if out else Path("runs") / run_id
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"--out: {run_dir} exists and is not empty; runs never overwrite")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "workspaces").mkdir(exist_ok=True)
    hub = has_hub(sc.protocol)
    first = allocate_ports(sc.base_port, 1 + 2 * (sc.agent_count + hub))
    agents = build_agents(sc.agent_count, first + 1, hub)
    if hosts:
        where = place([a.node_id for a in agents], list(hosts), cfg.cluster.placement)
        agents = [replace(a, host=where[a.node_id], address=hosts[where[a.node_id]])
                  for a in agents]
    kind, ids = sc.topology, [a.node_id for a in agents]
    if hub:  # the hub's star: each agent linked to the hub alone
        kind, ids = "star", [HUB_ID, *ids[:-1]]
    plan = RunPlan(
        run_id=run_id, run_dir=str(run_dir.resolve()),
        log_path=str((run_dir / "logs" / f"fail_storm_{run_id}.jsonl").resolve()),
        runner_port=first, agents=agents, config=cfg,
        neighbours=build_topology(kind, ids, sc.degree, sc.seed), runner_address=runner_address,
    )
    plan_path = run_dir / "plan.json"
    plan.save(plan_path)
    if sc.security == "curve":  # the keys live in their own 0600 file, never in the plan
        write_run_keys(run_dir, [RUNNER_ID, *(a.node_id for a in plan.agents)])
    return plan, plan_path


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Atomic: write a temp file, then rename over the final name."""
    path = run_dir / METRICS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps_metrics(metrics))
    os.replace(tmp, path)
    return path


def dumps_metrics(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2, sort_keys=True) + "\n"
