"""The runner: the MeshNetwork of the spec. Starts the mesh, broadcasts, feeds tasks, ends the run.

Timeline (all values from config; t = 0 is the broadcast):
  startup   spawn agents; wait until each has handshaken with every peer ("ready")
  t = 0     broadcast the document (protocol-framed, category broadcast); each agent keeps its shard
  work      one task every 1/task_rate s to a live entry agent, round-robin, until `duration`
  kill_at   the injector SIGKILLs its victims (and restarts them after restart_delay)
  drain     wait for every task to reach its terminal state (answer or task timeout)
  stop      stop agents, write `run_end`; metrics are then computed from the log alone

The runner is the only judge of a task's terminal state: the first of the entry agent's report
or the task deadline, logged once as ``task_end``.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.agents.supervisor import (
    AgentProcesses,
    AgentsFailed,
    Supervisor,
    raise_harness_priority,
)
from fsr.bus.detectors import detector_for
from fsr.bus.node import MeshNode
from fsr.config import to_dict
from fsr.config.load import planned_load
from fsr.config.schema import resolved
from fsr.eventlog import EventLog
from fsr.injector import FailStorm, NetworkControl, Strike
from fsr.injector.network import tcp_totals
from fsr.injector.process import Hit
from fsr.plan import RUNNER_ID, RunPlan
from fsr.protocols import HUB_ID, Message, has_hub, kinds
from fsr.workload import Document, assign_shards

if TYPE_CHECKING:
    from fsr.injector.relay import LinkRelay


class RunFailed(RuntimeError):
    """The run could not reach its work phase (an agent died at start-up, readiness timeout)."""


@dataclass
class TaskState:
    task_id: str
    qid: str
    entry: str
    deadline: float
    ended: bool = False


class Runner(MeshNode):
    def __init__(self, plan: RunPlan, plan_path: Path, doc: Document,
                 progress: Any = None, network: NetworkControl | None = None,
                 relay: LinkRelay | None = None,
                 processes: Callable[[Callable[..., None]], AgentProcesses] | None = None
                 ) -> None:
        cfg = plan.config
        self.cfg, self.plan, self.doc = cfg, plan, doc
        super().__init__(node_id=RUNNER_ID, protocol=cfg.scenario.protocol,
                         protocols=plan.protocols(),
                         log=EventLog(plan.log_path, RUNNER_ID), data_port=plan.runner_port,
                         hb_port=None, role="runner", incarnation="runner",
                         hb_interval=cfg.heartbeat.interval, hb_liveness=cfg.heartbeat.liveness,
                         keys=plan.keys(), detector=detector_for(cfg.heartbeat),
                         starvation_guard=cfg.heartbeat.starvation_guard,
                         address=plan.runner_address)
        for a in plan.agents:
            self.add_peer(a.node_id, a.data_port, a.hb_port, a.address)
        self.agent_ids = [a.node_id for a in plan.agents]
        self.mesh.control_senders = set(self.agent_ids)
        self.harness_nice = raise_harness_priority()  # before the forkserver starts
        # `processes`: whoever runs the agents elsewhere (a cluster's), made with our `record`
        self.supervisor: AgentProcesses = processes(self.record) if processes else \
            Supervisor(plan_path, Path(plan.run_dir) / "logs")
        self.hosts = {a.node_id: a.host for a in plan.agents}
        self.relay = relay
        self.local_network = network  # this machine's run namespace (its kernel counts bytes)
        network = network or self.supervisor.network()
        self.network = network
        self.progress = progress
        self.rng = random.Random(cfg.scenario.seed)
        # the agents that hold shards and take tasks: all but a hub, which only relays
        self.clients = [a for a in self.agent_ids if a != HUB_ID]
        self.shards = assign_shards([f.fid for f in doc.fragments], self.clients,
                                    cfg.workload.replication)
        self.storm = FailStorm(self, plan, self.shards, cfg.scenario.seed, network, relay)
        self.ready: set[str] = set()
        self.listening: set[str] = set()  # agents that said hello: bound, so connectable
        self.loaded: set[str] = set()
        self.tasks: dict[str, TaskState] = {}
        self.counts = {"submitted": 0, "answered": 0, "failed": 0, "timed_out": 0}
        self.phase = "startup"
        self.t0 = 0.0
        self.broadcast_done = False
        self._entry_turn = 0

    # -- the whole run ------------------------------------------------------------------------
    def run(self) -> str:
        """Run the scenario; returns why it ended ("completed"). Agents are always stopped."""
        sc = self.cfg.scenario
        reason = "crashed"
        where = self.supervisor.describe()
        cluster = {"cluster": where} if where is not None else {}
        try:
            self.record(ev.RUN_START, run_id=self.plan.run_id, config=to_dict(self.cfg),
                        harness_nice=self.harness_nice,
                        agents=[{"id": a.node_id, "roles": a.roles, "port": a.data_port,
                                 "hb_port": a.hb_port, **self._peers(a.node_id),
                                 **({"host": a.host, "address": a.address} if where else {})}
                                for a in self.plan.agents],
                        doc_id=self.doc.doc_id, fragments=len(self.doc.fragments),
                        qa=len(self.doc.qa), doc_notes=list(self.doc.notes),
                        load=planned_load(self.cfg), **cluster)
            self.supervisor.begin()
            self.set_phase("startup")
            for node_id, pid in self.supervisor.spawn_all(self.agent_ids):
                self.record(ev.AGENT_SPAWNED, agent=node_id, pid=pid)
            self.wait_until(lambda: self.ready >= set(self.agent_ids),
                            time.time() + self.cfg.timeouts.ready, "agents ready")
            self.record(ev.MESH_READY, agents=len(self.ready))
            self.t0 = time.time()
            self.record(ev.DOCUMENT, doc_id=self.doc.doc_id,
                        fragments={f.fid: f.text for f in self.doc.fragments})
            self.set_phase("broadcast")
            for node_id in self.agent_ids:
                self.send_document(node_id)
            self.broadcast_done = True
            # Work starts once every agent holds its shard and its heartbeat is seen here, so
            # the runner can pick any of them as an entry agent.
            self.wait_until(lambda: self.loaded >= set(self.agent_ids)
                            and all(self.monitor.alive(a) for a in self.agent_ids),
                            time.time() + self.cfg.timeouts.ready, "shards loaded")
            self.set_phase("work")
            self.storm.start(self.t0)
            end_submit = self.t0 + sc.duration
            self.schedule_tasks(time.time(), end_submit)
            self.wait_until(lambda: time.time() >= end_submit, None, "work")
            self.set_phase("drain")
            self.wait_until(lambda: all(t.ended for t in self.tasks.values()), None, "drain")
            if self.local_network is not None:  # the kernel's count, to check fsr's counters by
                self.record(ev.TCP_TOTALS, **self.network_totals())
            reason = "completed"
            return reason
        except KeyboardInterrupt:
            reason = "interrupted"
            raise
        except (RunFailed, AgentsFailed) as exc:
            reason = f"failed: {exc}"
            raise
        finally:
            self.set_phase("stop")
            for node_id in self.agent_ids:
                self.mesh.send_control(node_id, "stop")
            self.supervisor.stop_all()
            if self.relay is not None:  # what the relay forwarded, to check the counters by
                for (a, b), n in sorted(self.relay.forwarded().items()):
                    self.record(ev.RELAY_BYTES, a=a, b=b, bytes=n)
            self.record(ev.RUN_END, reason=reason, counts=self.counts)
            self.close()
            self.log.close()

    def _peers(self, node_id: str) -> dict[str, list[str]]:
        """An agent's neighbours, for run_start; a full mesh's go without saying."""
        if self.cfg.scenario.topology == "full" and not has_hub(self.cfg.scenario.protocol):
            return {}
        return {"peers": self.plan.peers_of(node_id)}

    def network_totals(self) -> dict[str, int]:
        return tcp_totals()

    def waiting_for(self) -> str:
        """Who the start-up still waits for (the reason a readiness timeout gives)."""
        parts = [f"{name}: {', '.join(sorted(missing)[:5])}"
                 + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                 for name, missing in (
                     ("not ready", set(self.agent_ids) - self.ready),
                     ("no shard", set(self.agent_ids) - self.loaded if self.broadcast_done
                      else set()),
                     ("no heartbeat", {a for a in self.agent_ids
                                       if not self.monitor.alive(a)})) if missing]
        return "; ".join(parts)

    def wait_until(self, cond: Any, deadline: float | None, what: str) -> None:
        next_check = 0.0
        while not cond():
            now = time.time()
            if deadline is not None and now > deadline:
                raise RunFailed(f"timed out waiting for {what} ({self.waiting_for()})")
            if self.phase == "startup" and now >= next_check:
                # a few times a second: polling 256 processes every turn slows start-up
                next_check = now + 0.2
                dead = [n for n in self.agent_ids if not self.supervisor.alive(n)]
                if dead:
                    raise RunFailed(f"{dead[0]} exited during start-up (see logs/"
                                    f"{dead[0]}.stderr)")
            self.step(0.05)  # the phases' conditions are checked between turns
            self.supervisor.poll()
            if self.relay is not None:  # the relay thread's flips, logged by this loop
                for ts, storm, dst, size, bit in self.relay.drain():
                    self.record(ev.CORRUPT_FRAME, storm=storm, dst=dst, bytes=size, bit=bit,
                                at=round(ts, 6))
            if self.progress is not None:
                self.progress.update(self)

    def set_phase(self, name: str) -> None:
        self.phase = name
        self.record(ev.PHASE, name=name)

    # -- broadcast and re-registration --------------------------------------------------------
    def send_document(self, node_id: str) -> None:
        body = {"document": self.doc.to_json(), "shards": self.shards, "version": 1}
        sent = self.adapter_for(node_id).send_message(node_id, Message(kinds.DOCUMENT, body))
        # Not connected yet (a restarting agent): try again once it is, while it lives.
        if not sent and self.supervisor.alive(node_id):
            self.when_link_up(node_id, lambda: self.send_document(node_id))

    def send_connect(self, node_id: str) -> None:
        if not self.mesh.send_control(node_id, "connect") and self.supervisor.alive(node_id):
            self.when_link_up(node_id, lambda: self.send_connect(node_id))

    def on_control(self, sender: str, body: dict[str, Any]) -> None:
        kind = body["k"]
        if kind == "hello":
            self.record(ev.AGENT_HELLO, agent=sender, pid=body.get("pid"),
                        incarnation=body.get("incarnation"))
            self.loaded.discard(sender)
            self.listening.add(sender)
            if self.phase != "startup":  # a restarted agent: its peers are all listening
                self.send_connect(sender)
            elif self.listening >= set(self.agent_ids):
                for node_id in self.agent_ids:
                    self.send_connect(node_id)
            if self.broadcast_done:  # a restarted victim re-registers: give its shard back
                self.send_document(sender)
        elif kind == "ready":
            self.ready.add(sender)
        elif kind == "shard_loaded":
            self.loaded.add(sender)
        elif kind == "task_done":
            passages = [str(p)[:128] for p in body.get("passages") or []]
            self.end_task(body["task_id"], body["status"], body.get("answer", ""),
                          body.get("reason", ""), sender, passages)

    # -- the fail storm: what the injector (`fsr.injector.StormHost`) needs of the runner --
    def pid(self, node_id: str) -> int:
        return self.supervisor.pid(node_id)

    def respawn(self, node_id: str) -> int:
        return self.supervisor.spawn(node_id)

    def signal(self, victims: list[str], sig: signal.Signals) -> tuple[list[Hit], bool]:
        return self.supervisor.signal(victims, sig)

    def host_of(self, node_id: str) -> str:
        return self.hosts[node_id]

    def striking(self, strike: Strike) -> None:
        self.set_phase("fault")
        if strike.takes_shards:  # no shard here until the new process loads it again
            self.loaded.difference_update(strike.victims)

    def struck(self, strike: Strike) -> None:
        self.set_phase("work")

    # -- the workload -------------------------------------------------------------------------
    def schedule_tasks(self, start: float, end: float) -> None:
        gap = 1.0 / resolved(self.cfg.scenario.task_rate, "scenario.task_rate")
        n = 0
        while start + n * gap < end:
            self.call_at(start + n * gap, self.submit_task)
            n += 1

    def entry_agent(self) -> str | None:
        """An agent that holds its shard, that no fault holds now and that the runner's
        heartbeat view sees alive. (A suspicion alone takes nothing away: a peer heard again
        with the same incarnation still holds its shard; a new process says hello first.)"""
        live = [a for a in self.clients
                if a in self.loaded and not self.storm.holds(a) and self.monitor.alive(a)]
        if not live:
            return None
        self._entry_turn += 1
        return live[self._entry_turn % len(live)]

    def submit_task(self) -> None:
        qa = self.rng.choice(self.doc.qa)
        task_id = f"t{self.counts['submitted']:05d}"
        self.counts["submitted"] += 1
        entry = self.entry_agent()
        deadline = time.time() + resolved(self.cfg.timeouts.task, "timeouts.task")
        self.tasks[task_id] = TaskState(task_id, qa.qid, entry or "", deadline)
        self.record(ev.TASK_SUBMIT, task=task_id, qid=qa.qid, question=qa.question, gold=qa.answer,
                    entry=entry)
        if entry is None or not self.mesh.send_control(entry, "task", task_id=task_id,
                                                       question=qa.question):
            self.end_task(task_id, "failed", "", "no entry agent reachable", RUNNER_ID)
            return
        self.call_at(deadline, lambda: self.end_task(task_id, "timed_out", "", "deadline",
                                                     RUNNER_ID))

    def end_task(self, task_id: str, status: str, answer: str, reason: str, by: str,
                 passages: list[str] | None = None) -> None:
        state = self.tasks.get(task_id)
        if state is None or state.ended:
            if state is not None and by != RUNNER_ID:
                self.record(ev.TASK_LATE, task=task_id, status=status, by=by)
            return
        state.ended = True
        self.counts[status] = self.counts.get(status, 0) + 1
        self.record(ev.TASK_END, task=task_id, status=status, answer=answer, reason=reason, by=by,
                    passages=passages or [])
