"""`fsr run` end to end: run folder, document, runner, progress, metrics file, summary."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq
from rich.console import Console
from rich.table import Table

from fsr.agents.supervisor import AgentsFailed
from fsr.config import Config, ConfigError
from fsr.injector.network import (
    NetworkFaults,
    check_available,
    enter_run_namespace,
    redirect_agent_links,
)
from fsr.injector.relay import LinkRelay
from fsr.metrics import log_metrics
from fsr.plan import RunPlan
from fsr.runner.coordinator import RunFailed, Runner
from fsr.runner.progress import Progress
from fsr.runner.rundir import prepare_run, write_metrics
from fsr.workload import Document, DocumentError, load_document

if TYPE_CHECKING:
    from fsr.cluster.engine import Cluster, Processes

REPORT_FAILED = 3  # the run completed and its metrics are written, but report/ is not


def launch(cfg: Config, out: str | None, debug: bool, report: bool = True) -> int:
    console = Console(stderr=True)
    on_cluster = cfg.cluster.engine == "ray"
    with ExitStack() as stack:
        try:
            doc = load_document(cfg.workload.document)
            cfg = check_llm(cfg)
            netfaults = cfg.network_faults and not on_cluster  # a cluster's are its hosts'
            if netfaults:
                check_network(cfg)
            cluster = join_cluster(stack, cfg) if on_cluster else None
            plan, plan_path = prepare_run(cfg, out, *(cluster.placement() if cluster else ()))
        except (ConfigError, DocumentError, OSError) as exc:
            console.print(f"fsr: error: {exc}", markup=False, highlight=False)
            return 2
        return run_plan(console, cfg, plan, plan_path, doc, debug, report, netfaults,
                        cluster.processes(plan) if cluster else None)


def run_plan(console: Console, cfg: Config, plan: RunPlan, plan_path: Path, doc: Document,
             debug: bool, report: bool, netfaults: bool, processes: Processes | None) -> int:
    run_dir = Path(plan.run_dir)
    code = 0
    network = enter_namespace(plan) if netfaults else None
    relay = None
    if network is not None and cfg.relay_faults:
        relay = link_relay(plan)
    with ExitStack() as stack:
        if network is not None:
            stack.callback(network.close)
        if relay is not None:
            stack.callback(relay.close)
        if cfg.llm.model.type == "local":
            try:
                plan = start_model_server(stack, cfg, plan, plan_path)
            except RuntimeError as exc:
                console.print(f"fsr: error: {exc}", markup=False, highlight=False)
                return 2
        progress = stack.enter_context(Progress(console, plan.log_path if debug else None))
        try:
            runner = Runner(plan, plan_path, doc, progress, network, relay, processes)
        except zmq.ZMQError as exc:  # another process took the port since it was checked
            console.print(f"fsr: error: cannot bind the runner's port {plan.runner_port}: {exc}",
                          markup=False, highlight=False)
            return 1
        try:
            runner.run()
        except (RunFailed, AgentsFailed) as exc:
            console.print(f"fsr: run failed: {exc}", markup=False)
            code = 1
        except KeyboardInterrupt:
            console.print("fsr: interrupted; agents stopped", markup=False)
            code = 130
    _, metrics, _ = log_metrics(plan.log_path)
    path = write_metrics(run_dir, metrics)
    print_summary(console, metrics, path, plan.log_path)
    if report and not write_report(console, run_dir) and code == 0:
        code = REPORT_FAILED
    return code


def join_cluster(stack: ExitStack, cfg: Config) -> Cluster:
    """`cluster.engine: ray`: join the Ray cluster as its driver (left when the run ends)."""
    # deferred: Ray is an optional extra (fsr[ray]) that a single-machine run never loads
    from fsr.cluster.engine import ClusterError, join

    try:
        cluster = join(cfg)
    except ClusterError as exc:
        raise ConfigError(str(exc)) from exc
    stack.callback(cluster.leave)
    return cluster


def check_network(cfg: Config) -> None:
    """Refuse, before anything starts, a schedule with network faults that cannot run here."""
    if cfg.llm.model.type == "openai":
        raise ConfigError("faults: network faults run the mesh in a network namespace of its "
                          "own, which cannot reach an OpenAI-compatible endpoint; use the "
                          "offline or local backend")
    why = check_available()
    if why is not None:
        raise ConfigError(f"faults: network faults are not available here: {why}")


def enter_namespace(plan: RunPlan) -> NetworkFaults:
    """A schedule with network faults runs in a network namespace of its own (made here, gone
    with this process), with the fault rules' base set in place before any socket exists."""
    enter_run_namespace()
    return NetworkFaults({a.index: (a.data_port, a.hb_port) for a in plan.agents})


def link_relay(plan: RunPlan) -> LinkRelay:
    """The relay for corrupt and delay faults, and the NAT rules that put it on every
    agent-to-agent link (before any agent starts, so every such link goes through it)."""
    ports = {p: a.node_id for a in plan.agents for p in (a.data_port, a.hb_port)}
    relay = LinkRelay([a.node_id for a in plan.agents], ports)
    redirect_agent_links(min(ports), max(ports),
                         {a.index: relay.ports[a.node_id] for a in plan.agents})
    return relay


def check_llm(cfg: Config) -> Config:
    """Fail early on an LLM set-up that cannot work, and keep the API key out of every file: a
    key from the config moves into the environment (agents inherit it), the plan holds none."""
    model = cfg.llm.model
    if model.type == "offline":
        return cfg
    if model.type == "local":
        # deferred, as the two below: the LLM modules load only for a run that uses one
        from fsr.agents.tools.local_server import INSTALL_HINT, missing_modules

        if missing := missing_modules():
            raise ConfigError(f"llm.model.type: 'local' needs {', '.join(missing)}: "
                              f"{INSTALL_HINT}")
        return cfg
    if model.openai_api_key and not os.environ.get("OPENAI_API_KEY"):
        os.environ["OPENAI_API_KEY"] = model.openai_api_key
    # deferred: the openai client costs ~0.5 s to import, and an offline run never needs it
    from fsr.agents.tools.llm import LlmError, resolve_endpoint

    try:
        resolve_endpoint(model)
    except LlmError as exc:
        raise ConfigError(f"llm.model: {exc}") from exc
    return replace(cfg, llm=replace(cfg.llm, model=replace(model, openai_api_key=None)))


def start_model_server(stack: ExitStack, cfg: Config, plan: RunPlan, plan_path: Path) -> RunPlan:
    """`llm.model.type: local`: one llama.cpp server for the run, stopped with it; the agents'
    config points at it."""
    # deferred: only a local-model run starts a server
    from fsr.agents.tools.local_server import start_local_server

    server = start_local_server(cfg.llm.model, max(a.hb_port for a in plan.agents) + 1,
                                log_path=Path(plan.run_dir) / "logs" / "llm-server.log")
    stack.callback(server.stop)
    model = replace(cfg.llm.model, base_url=server.base_url, name=server.model_name)
    plan = replace(plan, config=replace(cfg, llm=replace(cfg.llm, model=model)))
    plan.save(plan_path)
    return plan


def write_report(console: Console, run_dir: Path) -> bool:
    """The run's report/. It is derived from the log, which is already complete and whose
    metrics are already written, so a report failure loses nothing: it is one error line and
    exit code `REPORT_FAILED` (3), never a traceback or a silent 0."""
    try:
        # deferred: matplotlib costs ~0.5 s to import, and `--no-report` never needs it
        from fsr.report import write_run_report

        console.print(f"report:  {write_run_report(run_dir)}", markup=False, highlight=False)
        return True
    except Exception as exc:  # any failure of the plotting stack; reported, never hidden
        console.print(f"fsr: error: report not written ({type(exc).__name__}: {exc}); "
                      f"metrics and log are complete", markup=False, highlight=False)
        return False


def _inflight_line(f: dict[str, Any]) -> str:
    let_go = f.get("let_go_ms") or {}
    return (f"{f.get('n')} hops on victims; let go p50 {let_go.get('p50_ms')} ms, "
            f"max {let_go.get('max_ms')} ms; {f.get('fates', {})}")


def _load_line(f: dict[str, Any]) -> str:
    planned = (f.get("planned") or {}).get("utilisation")
    return f"{planned} / {f.get('utilisation')} (busiest agent {f.get('busiest')})"


def print_summary(console: Console, m: dict, path: Path, log_path: str) -> None:
    table = Table(title=f"fsr {m['protocol']} — {m['agent_count']} agents", show_header=False)
    rows = [
        ("recovery_ms", m["recovery_ms"]), ("steady_state_ms", m["steady_state_ms"]),
        ("bytes_reconnect", m["bytes_reconnect"]), ("success_rate_drop", m["success_rate_drop"]),
        ("duplicate_work_ratio", m["duplicate_work_ratio"]),
        ("detection_ms p50 / max",
         f"{m['detection_ms']['p50_ms']} / {m['detection_ms']['max_ms']}"),
        ("in flight at the strike", _inflight_line(m.get("inflight") or {})),
        ("utilisation (planned / measured)", _load_line(m.get("load") or {})),
        ("tasks submitted / correct", f"{m['tasks']['submitted']} / {m['tasks']['correct']}"),
        ("success rate", m["tasks"]["success_rate"]),
        ("EM / F1 (answered)", f"{m['tasks']['em']} / {m['tasks']['f1']}"),
        ("answered per s", m["throughput"]["answered_per_s"]),
        ("bytes total", m["bytes"]["total"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"metrics: {path}\nlog:     {log_path}", markup=False, highlight=False)
