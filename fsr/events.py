"""The catalogue of event names in a run's log, with the fields each carries.

Every event a process writes (`EventLog.log`, `MeshNode.record`, `Transport.record`) is named
here, and the checkers read the log only by these names (`History.of` refuses any other), so a
writer and a reader can never drift apart silently. `tests/test_events.py` checks every name the
code writes against this table. Every event also has ``ts`` (unix seconds) and ``node``.
"""

from __future__ import annotations

CATALOGUE: dict[str, str] = {
    # -- the run (runner) ----------------------------------------------------------------
    "run_start": "run_id, config, agents [{id, roles, port, hb_port, peers (a topology other "
                 "than full)}], doc_id, fragments, qa, harness_nice (the runner's and "
                 "forkserver's nice value; agents run at 0), "
                 "doc_notes, load {task_rate, capacity_per_s, utilisation, slots, service} "
                 "(what the run was set up for)",
    "run_end": "reason, counts",
    "phase": "name: startup | broadcast | work | fault | drain | stop",
    "document": "doc_id, fragments {fid: text} (logged once, so `found` is graded from the log)",
    "agent_spawned": "agent, pid",
    "agent_hello": "agent, pid, incarnation",
    "mesh_ready": "agents",
    "task_submit": "task, qid, question, gold, entry",
    "task_end": "task, status, answer, reason, by, passages [fid]",
    "task_late": "task, status, by",
    # -- the injector (runner) -----------------------------------------------------------
    "storm_start": "storm, fault, victims, at, duration, percent, targets, ms, jitter (delay)",
    "kill": "storm, victim, pid, kill_ts, signal (SIGKILL)",
    "pause": "storm, victim, pid, kill_ts, signal (SIGSTOP)",
    "net_fault": "storm, fault (partition | loss), victims, kill_ts, percent (rules in place)",
    "resume": "storm, victim, pid, resume_ts (SIGCONT)",
    "restart": "storm, victim, pid",
    "storm_end": "storm, fault, victims (restarted, continued or healed)",
    "corrupt_frame": "storm, dst, bytes, bit, at (the relay flipped one bit of a frame to dst)",
    "relay_bytes": "a, b, bytes (what the link relay forwarded between a and b, both ways)",
    "tcp_totals": "sockets, received, retransmitted (the kernel's count, ss -tin, at the end "
                  "of the drain; runs with network faults)",
    "strike_spread": "storm, ms (first to last kill() call), victims, realtime (the burst ran "
                     "in SCHED_FIFO)",
    # -- an agent's life and work --------------------------------------------------------
    "agent_started": "pid, incarnation, roles, port, design {liveness, request_timeout, "
                     "ping_interval, ping_misses, on_lost}",
    "agent_stopped": "pid",
    "shard_loaded": "fragments, version",
    "task_parked": "task, stage",
    "task_finished": "task, status, reason",
    "task_abandoned": "task, stage",
    "stage_exec": "task, stage, attempt, src",
    "stage_done": "task, stage, ok, ms, llm [calls], error",
    "lookup_exec": "task, src",
    "lookup_done": "task, src (a lookup's work ended; only with a service time)",
    "work_queued": "task, stage (lookup | extract | triple | reason), ahead (every work slot "
                   "was busy: the unit waits, with this many ahead of it)",
    "work_start": "task, stage, service_ms (the drawn load, never a figure), busy (slots in "
                  "use, this one included)",
    "hop_sent": "dst, kind, mid, task, stage, attempt, retry, relay (a relay's leg)",
    "hop_failed": "dst, mid, reason, task, stage, attempt, retry",
    "hop_held": "dst, mid, how, task, stage, attempt, retry",
    "hop_done": "dst, mid (the hop's reply reached its sender)",
    "hop_republished": "task, stage, attempt, reason",
    "hop_relayed": "task, kind, stage, src, dst, mid (a request this agent cannot answer, passed "
                   "on towards one that can: `fsr.bus.topology`)",
    "reply_lost": "dst, re",
    "stale_reply": "src, kind, re",
    # -- membership and the failure-handling design --------------------------------------
    "peer_joined": "peer, how, incarnation",
    "peer_returned": "peer, how: restarted | resumed, incarnation",
    "peer_suspected": "peer, how: heartbeat_timeout | socket_disconnect | new_incarnation | "
                      "swim_dead, "
                      "silent_ms (the membership view)",
    "peer_lost": "peer, how (the protocol's design stopped using the peer)",
    "swim_suspect": "peer, silent_ms (SWIM: a probe went unanswered; dead unless it refutes)",
    "swim_refute": "incarnation (SWIM: this node heard itself suspected and said it is alive)",
    "handshake_start": "peer, sent",
    "handshake_done": "peer, role, incarnation",
    "handshake_refused": "peer, error | status",
    "reattach": "peer, re, remote",
    "reattach_failed": "peer, re, why",
    "reattach_gave_up": "peer, re, tries",
    # -- the bus: bytes and frames -------------------------------------------------------
    "send": "dst, cat, kind, mid, wire, pay, env, sec (under CURVE: the bytes CURVE adds)",
    "send_failed": "dst, cat, kind, mid, reason",
    "deliver": "src, kind, mid",
    "hb_sent": "seq, frame",
    "hb_tally": "cat (heartbeat), copies, wire, sec, by_src {src: [copies, wire, sec]} (the "
                "heartbeat copies a node received in one interval; sec under CURVE only)",
    "zmtp_connect": "peer, sock, cat, wire, sec",
    "handshake_failed": "sock (router | pub), how: auth (ZAP refused) | protocol | no_detail, "
                        "value, why (a listening socket refused a connection)",
    "zmtp_disconnect": "peer, sock",
    "frame_dropped": "src, reason, wire | kind, mid",
    # -- anp's integrity and DID-WBA ------------------------------------------------------
    "crc_fail": "src, seq, claimed_seq, wire | channel",
    "anp_duplicate": "src, seq",
    "anp_gap": "src, first, n",
    "anp_recovered": "src, seq",
    "anp_unrecovered": "src, seq",
    "anp_nack_stale": "src, seqs",
    "anp_nack_unknown": "src, seq",
    "did_auth_failed": "peer, side, why",
    "did_auth_stale": "peer",
    "did_auth_refused": "peer, why",
    "anp_reauth": "peer, re (a 401: our bearer token is not honoured; DID-WBA again)",
    "anp_resent": "dst, mid (a message refused with 401, sent again once authenticated)",
}
