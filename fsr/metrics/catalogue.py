"""The metric catalogue: every figure of ``failstorm_metrics.json``, declared once.

Each `MetricSpec` says where a figure sits in the metrics file, what a table calls it, its unit,
how many decimals the comparison tables print, and what it means, in one paragraph that says
what the code in `fsr.metrics` computes. Everything that names or explains a metric reads it from
here: the run report's definitions (`fsr.report.definitions`), the comparison's figures and
their labels and digits (`fsr.compare.aggregate`), and ``docs/metrics.md``, which
`fsr.metrics.docs` generates:

    python -m fsr.metrics.docs > docs/metrics.md

``tests/metrics/test_metric_docs.py`` fails when that file is not the generated text, and when a
key that `fsr.metrics.compute_metrics` returns has no entry here (or an entry names no key it
returns).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One figure: where it is, how it is printed, what it means."""

    key: str  # its name: a top-level key of the metrics file, or a column of `fsr compare`
    path: tuple[str, ...]  # where its value sits in failstorm_metrics.json
    label: str  # what a table calls it
    unit: str  # ms, bytes, share, count, … ("" for a section of several figures)
    digits: int  # decimals printed in the comparison tables
    definition: str  # one paragraph; `code` and *emphasis* as markdown
    details: str = ""  # its breakdown (and null reason) under "details"
    part_of: str = ""  # the figure this one is a part of (printed indented below it)

    @property
    def top(self) -> str:
        """The top-level key of the metrics file the figure lives under."""
        return self.path[0]


def _spec(key: str, label: str, unit: str, digits: int, definition: str, *,
          path: tuple[str, ...] | None = None, details: str = "",
          part_of: str = "") -> MetricSpec:
    return MetricSpec(key, path or (key,), label, unit, digits, " ".join(definition.split()),
                      details, part_of)


# -- the figures of the storm, in the order of the metrics file --------------------------------
# The five metrics of the spec come first; detection, rejoin, failover and inflight are what they
# are made of. Each has its breakdown (and the reason of a null) under "details".
STORM = (
    _spec("recovery_ms", "recovery", "ms", 1, """
        The survivors' reaction: the first message a *surviving* agent sends as a recovery
        action after the fault — a re-published hop (`hop_sent` with `retry`), a resubscribe /
        re-attach (`reattach`), a held request sent again (`ioa_retry` with `sent`), or a
        reconnection handshake that went on the wire
        (`handshake_start` with `sent`, with a survivor or a returning victim) — minus the fault
        time. It is not measured to a victim's rejoin: it contains the restart delay only when
        no survivor had anything to recover before the victims came back. Null, with a reason,
        when no fault was injected or no survivor sent a recovery message.""",
          details="recovery"),
    _spec("steady_state_ms", "steady state", "ms", 1, """
        Settling time, with `details.steady_state.reason`. Baseline: answered tasks per second,
        and success (the share of ended tasks that succeeded by `metrics.success`), over the
        tasks that ended in [t0, fault). Windows (by task end time) of `steady_window` s start
        at the fault and step by `steady_step` s while they fit before t0 + duration; `auto`
        makes a window long enough for the baseline's rate to answer the tasks a window needs to
        decide (17 at `steady_band` 0.1, 19 at 0.2), at least 1 s and at most a third of the
        post-fault period. A window is *out of band* only when sampling noise cannot explain it:
        its success's 95 % Wilson interval lies wholly outside ±`steady_band` (relative) of the
        baseline success, or the exact 95 % Poisson interval of its answered count, over its
        length, lies wholly below (1 − `steady_band`) × the baseline throughput. Throughput
        *above* the baseline is never held against a window (a burst after a stall is the
        backlog being worked off). A 17-task window at band 0.1 is out on throughput at 7
        answered or fewer (41 % of the baseline: a full stall over about 60 % of it), and on
        success at 12 of 17 or fewer against a baseline of 1.0 (3 of 17 against 0.5); it cannot
        see less, and `details.steady_state.rule.detects` gives the limits of the run's own
        window. `reason`: `recovered` — the first task end in the first window from which every
        later window is in band, minus the fault time; `not_disturbed` — no window left the
        band, 0; `never_settled` — null, the last window is out of band; `too_few_tasks` — null,
        too few tasks answered before the fault, or no window fits; `no_baseline` — null, no
        pre-fault period or no task answered in it. `disturbance` is the first window after the
        fault that left the band (null if none), with its counts, intervals and `out_by`
        (success / throughput); `last_out` the last such window.""",
          details="steady_state"),
    _spec("bytes_reconnect", "bytes reconnect", "bytes", 0, """
        Wire bytes logged in [fault, fault + `reconnect_window`] (30 s by default, cut at the
        end of the log), in total and by category (task, heartbeat, handshake, broadcast,
        control). A heartbeat tally counts whole at its time, the end of its interval, so each
        edge of the window may take or leave at most one heartbeat interval of a node's copies.""",
          details="bytes_reconnect"),
    _spec("success_rate_drop", "success rate drop", "share", 3, """
        (pre − post) / pre of the success rate, the share of a window's tasks that succeeded by
        `metrics.success`: `correct` (the default: answered with an exact match), `found` or
        `answered`. pre: the tasks submitted in [t0, fault) that *ended* before the fault (the
        undisturbed baseline); post: the tasks the storm could touch — submitted before t0 +
        duration and not ended at the fault: in progress at the strike or submitted after it
        (splitting by submission time alone would count the tasks the storm caught in flight as
        before it). Each window reports, over its n tasks, the share answered, found and correct
        (k, n, rate and 95 % Wilson interval), EM and mean token F1 over the answered ones, and
        the terminal-state counts. A task is *found* when the normalised gold answer (SQuAD
        normalisation) occurs, on word boundaries, in a passage the search stage gathered from
        the mesh (the entry agent reports their fragment ids in `task_done`, and the runner logs
        the document's fragments as the `document` event, so it is graded from the log alone).
        Null when either window is empty or the pre-fault rate is 0. For storm i of several,
        post ends at the next storm and pre stays the run's baseline.""",
          details="success_rate_drop"),
    _spec("duplicate_work_ratio", "duplicate work", "share", 3, """
        (stage executions − distinct (task_id, stage) pairs) / stage executions, over the four
        stages (search, extract, triple, reason). `details.duplicate_work.causes` counts each
        repeat by the reason its hop was last re-published before it (`hop_republished`:
        `timeout`, `stream_closed`, `heartbeat_timeout`, `send_failed` …), `hedge` (a hedged
        copy, `hop_hedged`, sent while the first still waited), or `no_republish` (e.g. a relay
        passing a request on twice). `details.duplicate_work.lookups`: lookups executed
        (`lookup_exec`), hedged copies sent (`hop_hedged`, stage lookup). Null if no stage ran.""",
          details="duplicate_work"),
    _spec("detection_ms", "detection", "ms", 1, """
        Per (surviving observer, victim): the moment the observer's *protocol* stopped using the
        victim — its first `peer_lost` of the victim at or after the victim's fault time (its
        SIGKILL or SIGSTOP, or the start of its network fault), by whatever signal its design
        uses (`how`: `heartbeat_timeout`, `stream_closed`, `ping_timeout`, `request_timeout`,
        `send_failed`, `new_incarnation`) — minus that time; p50 (nearest rank), max and n over
        pairs. A pair with no such event is *not needed* when the observer sent the victim
        nothing after the fault, *missing* otherwise. A partition cuts both ways: each victim
        also observes every agent on the other side. `details.detection.busy` / `.idle` split
        the pairs by whether the observer had a hop outstanding on the victim at its fault time;
        `details.detection.membership` is the heartbeat channel's view (first `peer_suspected`),
        the same for every protocol.""",
          details="detection"),
    _spec("rejoin_ms", "rejoin", "ms", 1, """
        Per victim that came back — a new process started after its SIGKILL (`agent_started`),
        continued after its pause (`resume`), or, for a partition or loss, the fault lifted
        (`storm_end`) — from that return to its first completed handshake with a survivor
        (`handshake_done`, either side); p50, max and n over victims. `details.rejoin` also
        gives, per victim, `first_task_ms`: from the return to the first stage it executed for a
        task that was then answered.""",
          details="rejoin"),
    _spec("failover_ms", "failover", "ms", 1, """
        From the fault until the first task the storm *hit* is answered anyway. A task is hit
        when one of its hops to a victim failed (`hop_failed`) or was held (`hop_held`) at or
        after the fault — outstanding on the victim when it died, or sent to it before its loss
        was noticed. `tasks`: how many were hit; `answered`: how many of them were. Null, with a
        reason, when none was hit or none of those was answered.""",
          details="failover"),
    _spec("inflight", "in flight", "", 0, """
        The work the storm caught in flight. A hop is a request (a stage or a lookup) an agent
        sent another and awaits, outstanding from its `hop_sent` until its `hop_done` or
        `hop_failed`. `n`: the hops surviving agents had outstanding on a victim at that
        victim's fault time. The sender's `hop_failed` at or after it is when it *let go*:
        `let_go_ms` (p50, p95, max, n) is that time minus the fault time, `by_signal` counts the
        reasons (`stream_closed`, `request_timeout` / `timeout`, `ping_timeout`,
        `heartbeat_timeout`, `send_failed`, `new_incarnation`, `lost_by_peer`: the restarted
        victim said it never had the work; `hedged`: a hedged copy to another agent answered
        first), `held` the hops the protocol held first (a2a's
        resubscribe). `fates`: `answered_by_victim`, `waited_for_restart` (let go only at or
        after the victim came back), `republished_answered` / `republished_failed`, `lost`.
        `tasks_hit`: tasks with such a hop, or whose entry agent was killed while the task was
        in progress (`entry_killed`), with how many were answered and their submission-to-answer
        p50 and p95; `tasks_not_hit`: the same for the other tasks in progress at the strike.
        Each hop is listed in `details.inflight.hops`.""",
          details="inflight"),
)

# -- whole-run figures, and the storms one by one ---------------------------------------------
RUN = (
    _spec("storms", "storms", "", 0, """
        Per storm, in strike order: its kind, strike time `t_s`, victims and window (strike to
        the next storm, or to the end of work), and the storm figures over its view of the log
        (its own fault time and victims, the log cut where the next storm strikes): detection
        p50 / max / n, recovery, rejoin p50, failover, the wire bytes of its window
        (`bytes_window`), the success rate of the tasks submitted in its window (`success_post`,
        `post_n`) and its drop from the run's pre-fault baseline, and its steady state with its
        reason; a corrupt storm adds `corruption` (frames flipped, rejected, delivered). The
        headline figures are the first storm's."""),
    _spec("storms_overall", "storms overall", "", 0, """
        Each per-storm figure over the storms that have it (a null is left out; a settling time
        only from the storms that disturbed the run and settled): mean, min, max and n."""),
    _spec("reconnect", "reconnection wave", "", 0, """
        How the mesh came back together after the (first) storm, under the run's `reconnect`
        pacing (`mode`). A pair (n, p) of neighbours is *ready* once n completed a handshake
        with p (n's `handshake_done` of p). From the fault on, a pair *breaks* when n's protocol
        loses p (`peer_lost`), when n sees p come back (`peer_returned`), and both ways at a
        victim's SIGKILL; the next `handshake_done` mends it (pairs of a victim that never came
        back are left out). `wave_ms`: the first `restart` (or `resume`; for a network fault,
        the first return) minus the fault time; `full_mesh_ms`: from then until the last broken
        pair was mended, if none is left broken (else null, with `reason`); `pairs`, `missing`
        and `last_pair` count them and name the last. `attempts`: handshakes on the wire
        (`handshake_start` with `sent`) from the fault to the end of the storm's view;
        `peak_attempts_per_s`: the most of them in any 1 s window across the mesh, starting
        `peak_at_ms` after the fault. `deferred`: `handshake_deferred` events after the fault by
        why (`backoff`: an attempt's wait, logged as it is sent; `admission`: an attempt queued
        by the node's limit). Batched logs only (else null), over the log up to the next storm:
        `in_progress_max` — the most attempts one node had in progress at once, each from its
        `handshake_start` to the node's `handshake_done` of that peer or the end of its logged
        wait; `bucket_excess` — the most attempts of one process in any span beyond `burst` +
        `rate` × its length (at most 0: the token bucket held)."""),
    _spec("tasks", "tasks", "", 0, """
        Every task of the run: the share answered, found and correct (k, n, rate and 95 % Wilson
        interval) over the n submitted; `success_rate` by `metrics.success`; EM and mean token
        F1 over the answered ones; the count of each terminal state (answered, failed,
        timed_out, unended); `submitted` and `correct`."""),
    _spec("throughput", "throughput", "tasks/s", 3, """
        Tasks answered, and answered correctly, that ended in [t0, t0 + duration], per second."""),
    _spec("load", "load", "", 0, """
        `utilisation`: the share of the work slots busy over [t0, fault) — the logged work
        intervals (`work_start` to `stage_done` / `lookup_done`) clipped to that period, over
        agents × `slots` × its length — as the mean over agents and the `busiest` agent's.
        `planned`: what the run was set up for (`run_start`'s `load`: task rate, capacity,
        target utilisation). Null when no work ran in slots (no service time)."""),
    _spec("hop_latency", "hop latency", "ms", 1, """
        One-way latency of task messages: the sender's first `send` of a message id to the
        receiver's `deliver` of it to the application (protocol decoding included); n, p50 and
        p95."""),
    _spec("false_suspicions", "false suspicions", "count", 0, """
        The membership view's mistakes over the whole run, start-up included: each
        `peer_suspected` of a peer that no storm held at that moment (from its fault time to its
        return plus `heartbeat.interval` x `liveness`, or to the end if it never returned), other
        than a restart seen (`new_incarnation`), by an observer no storm held. `n`,
        `per_agent_hour` (over agents x the hours from `run_start` to the last event),
        `before_t0` (in start-up), `by_runner`, `by_how`, the first ten; `held_observer`
        counts apart the suspicions by a stopped or cut-off observer, which finds every peer
        silent."""),
    _spec("llm", "LLM usage", "", 0, """
        Tokens per answered task, tokens spent on duplicate (task, stage) executions, LLM call
        latency p50 / p95 and errors, and tool execution time p50 / p95, all from `stage_done`."""),
    _spec("bytes", "wire bytes", "bytes", 0, """
        Wire bytes of the whole run by category (task, heartbeat, handshake, broadcast,
        control); sends split into application payload, protocol envelope, CURVE (under security
        `curve`) and ZMTP framing; `security`: every byte CURVE added (frames, heartbeat copies,
        connection handshakes)."""),
    _spec("overhead", "protocol overhead", "", 0, """
        What each plane of traffic costs on the wire, from the socket-layer counters: task,
        heartbeat, handshake, control and broadcast frames and wire bytes, each split into
        payload, envelope, CURVE and ZMTP framing; per answered task; per heartbeat copy; per
        completed protocol handshake (with and without the ZeroMQ connection handshakes).
        `overhead_share` is envelope + ZMTP framing over wire bytes and leaves CURVE out, so
        protocol comparisons read the same under either security setting. Under `swim`,
        `heartbeat.swim` splits SWIM's pings, acks, probes and gossip like any send, and
        `heartbeat.total` is the tallied copies plus them."""),
    _spec("topology", "topology", "", 0, """
        The topology that ran (`kind`, `degree` for random-k), from `run_start`: `links`
        (two-way links), `diameter` (the longest shortest path, in hops), `relayed` (requests an
        agent passed on because no neighbour of the requester could answer them: `hop_relayed`
        events, by stage and lookup) and `relay_request_wire` (wire bytes of the relay legs'
        request frames)."""),
    _spec("timeline", "timeline", "", 0, """
        Per second since t0: tasks ended, answered and correct, live agents, and wire bytes by
        category (a heartbeat tally in the second its interval ended)."""),
)

# -- the columns `fsr compare` adds, each a part of a figure above ----------------------------
PARTS = (
    _spec("mesh_settled_ms", "mesh settled", "ms", 1, """
        When the mesh's view of the storm settled: the last `peer_lost`, `peer_suspected`,
        `peer_returned` or `handshake_done` logged by or about a victim, at or after its fault
        time and before the `stop` phase, minus the fault time; 0 (`not_disturbed`) when there
        is none. `details.steady_state.mesh` gives the last event and a count of each kind.""",
          path=("details", "steady_state", "mesh_settled_ms"), part_of="steady_state_ms"),
    _spec("latency_settled_ms", "latency settled", "ms", 1, """
        When the hop latency came back within its pre-fault band: the steady-state windows (same
        length and step) are out when no task message was delivered in them or their p50 is
        above 1.5 × the p50 of [t0, fault) (a faster window is not held against it); value and
        reasons as for `steady_state_ms`, from the first delivery.""",
          path=("details", "steady_state", "latency_settled_ms"), part_of="steady_state_ms"),
    _spec("detection_ms_p50", "detection p50", "ms", 1, "The p50 of `detection_ms`.",
          path=("detection_ms", "p50_ms"), part_of="detection_ms"),
    _spec("rejoin_ms_p50", "rejoin p50", "ms", 1, "The p50 of `rejoin_ms`.",
          path=("rejoin_ms", "p50_ms"), part_of="rejoin_ms"),
    _spec("found_pre", "found before", "share", 3, """
        The share of the pre-fault window's tasks whose answer was *found* (see
        `success_rate_drop`): whether the mesh held and reached the answer before the storm.""",
          path=("details", "success_rate_drop", "pre", "found", "rate"),
          part_of="success_rate_drop"),
    _spec("found_post", "found after", "share", 3, """
        The share of the post-fault window's tasks whose answer was *found*: whether the mesh
        still held and reached the answer, whatever the later stages made of it.""",
          path=("details", "success_rate_drop", "post", "found", "rate"),
          part_of="success_rate_drop"),
    _spec("inflight_n", "in flight", "count", 0, "`inflight.n`: the hops outstanding on the "
          "victims at the strike.", path=("inflight", "n"), part_of="inflight"),
    _spec("let_go_ms_p50", "let go p50", "ms", 1, "The p50 of `inflight.let_go_ms`.",
          path=("inflight", "let_go_ms", "p50_ms"), part_of="inflight"),
    _spec("let_go_ms_p95", "let go p95", "ms", 1, "The p95 of `inflight.let_go_ms`.",
          path=("inflight", "let_go_ms", "p95_ms"), part_of="inflight"),
    _spec("detection_busy_ms_p50", "detection p50, busy pairs", "ms", 1, """
        The p50 of `detection_ms` over the busy pairs: the observer had a hop outstanding on the
        victim at its fault time.""",
          path=("details", "detection", "busy", "p50_ms"), part_of="detection_ms"),
    _spec("false_suspicions_n", "false suspicions", "count", 0, "`false_suspicions.n`: "
          "suspicions of a peer no fault held.", path=("false_suspicions", "n"),
          part_of="false_suspicions"),
)

# -- the protocol overhead report, as `fsr compare` prints it ---------------------------------
_W = ("overhead", "per_answered_task")
OVERHEAD = (
    _spec("task_wire_per_answer", "task bytes / answered task", "bytes", 1, """
        Wire bytes of every `send` of category task ÷ the tasks whose terminal state is
        *answered* (right or wrong). Amortised: retries, lookups and the frames of failed tasks
        are included — what one useful answer cost.""", path=(*_W, "wire")),
    _spec("task_payload_per_answer", "payload", "bytes", 1,
          "Of which application payload: Σ`pay` of task sends ÷ answered tasks.",
          path=(*_W, "payload"), part_of="task_wire_per_answer"),
    _spec("task_envelope_per_answer", "envelope", "bytes", 1,
          "Of which the protocol's envelope: Σ`env` of task sends ÷ answered tasks.",
          path=(*_W, "envelope"), part_of="task_wire_per_answer"),
    _spec("task_security_per_answer", "CURVE (security)", "bytes", 1,
          "Of which what CURVE added: Σ`sec` of task sends ÷ answered tasks (0 under security "
          "`none`).", path=(*_W, "security"), part_of="task_wire_per_answer"),
    _spec("task_zmtp_per_answer", "ZMTP framing", "bytes", 1, """
        Of which ZMTP framing: Σ(`wire` − `pay` − `env` − `sec`) of task sends ÷ answered tasks
        (the 2- or 9-byte ZeroMQ frame header).""",
          path=(*_W, "zmtp_framing"), part_of="task_wire_per_answer"),
    _spec("task_frames_per_answer", "task frames / answered task", "frames", 2,
          "Task `send` events ÷ answered tasks.", path=(*_W, "frames")),
    _spec("task_overhead_share", "task overhead share (envelope + framing)", "share", 3, """
        (Σ`env` + ZMTP framing) ÷ Σ`wire` of task sends: the share of task bytes that is the
        protocol's and not payload. CURVE's bytes are the security setting's and left out, so
        the share reads the same under either setting.""",
          path=("overhead", "task", "overhead_share")),
    _spec("bytes_per_heartbeat", "bytes / heartbeat", "bytes", 1, """
        Σ`wire` ÷ Σ`copies` of the `hb_tally` events: the mean size of one heartbeat copy on the
        wire.""", path=("overhead", "heartbeat", "bytes_per_heartbeat")),
    _spec("heartbeat_bytes", "heartbeat bytes", "bytes", 0, """
        Σ`wire` of the `hb_tally` events, plus, under `swim`, the wire bytes of SWIM's pings,
        acks, probes and gossip (sends of category heartbeat, kinds `swim.*`).""",
          path=("overhead", "heartbeat", "total")),
    _spec("handshake_protocol_bytes", "handshake bytes: protocol frames", "bytes", 0, """
        Σ`wire` of sends of category handshake: the protocol's handshake frames, attempts that
        never completed included.""", path=("overhead", "handshake", "protocol", "wire")),
    _spec("handshake_zmtp_bytes", "handshake bytes: ZMTP connections", "bytes", 0, """
        Σ`wire` of the `zmtp_connect` events: ZeroMQ's connection handshakes (greetings, READY
        or the CURVE handshake, and SUBSCRIBE for heartbeat subscriptions), both directions; per
        socket kind under `handshake.zmtp.by_socket`.""",
          path=("overhead", "handshake", "zmtp", "wire")),
    _spec("handshake_curve_bytes", "of which CURVE", "bytes", 0,
          "Of which what CURVE added (Σ`sec` of the `zmtp_connect` events).",
          path=("overhead", "handshake", "zmtp", "security"), part_of="handshake_zmtp_bytes"),
    _spec("handshakes_completed", "handshakes completed", "count", 1,
          "`handshake_done` events: protocol handshakes completed, each logged by the side that "
          "completed it.", path=("overhead", "handshake", "completed")),
    _spec("frames_per_handshake", "frames / completed handshake", "frames", 2, """
        Handshake sends ÷ handshakes completed (2 for a hello / ack exchange; more when hellos
        were sent again).""", path=("overhead", "handshake", "frames_per_completed")),
    _spec("bytes_per_handshake", "bytes / completed handshake", "bytes", 1,
          "Protocol handshake bytes ÷ handshakes completed.",
          path=("overhead", "handshake", "bytes_per_completed")),
    _spec("bytes_per_handshake_with_zmtp", "incl. ZMTP connections", "bytes", 1,
          "(Protocol + ZMTP connection handshake bytes) ÷ handshakes completed.",
          path=("overhead", "handshake", "bytes_per_completed_with_zmtp"),
          part_of="bytes_per_handshake"),
    _spec("control_bytes", "control bytes", "bytes", 0, """
        Σ`wire` of control sends (runner ↔ agent bookkeeping; the same design for every
        protocol).""", path=("overhead", "control", "wire")),
    _spec("broadcast_bytes", "broadcast bytes", "bytes", 0, """
        Σ`wire` of broadcast sends: the document at t = 0, and again to restarted victims.""",
          path=("overhead", "broadcast", "wire")),
    _spec("total_bytes", "total wire bytes", "bytes", 0, """
        Every wire byte of the run: the sends of every category, heartbeat copies and ZMTP
        connection handshakes; equals `bytes.total`.""", path=("overhead", "total")),
)

CATALOGUE: tuple[MetricSpec, ...] = STORM + RUN + PARTS + OVERHEAD
BY_KEY = {s.key: s for s in CATALOGUE}
assert len(BY_KEY) == len(CATALOGUE), "two figures with one key"

# The spec's deliverable table as `fsr compare` prints it, in its order.
COMPARED = tuple(BY_KEY[k] for k in (
    "recovery_ms", "bytes_reconnect", "steady_state_ms", "mesh_settled_ms",
    "latency_settled_ms", "success_rate_drop", "duplicate_work_ratio", "detection_ms_p50",
    "failover_ms", "rejoin_ms_p50", "found_pre", "found_post", "inflight_n", "let_go_ms_p50",
    "let_go_ms_p95", "detection_busy_ms_p50", "false_suspicions_n"))

# Top-level keys of the metrics file that are facts of the run, not figures.
RUN_FACTS = {
    "schema": "the metrics file's format: `fsr.failstorm_metrics/1`",
    "run_id": "the run's id, from `run_start`",
    "protocol": "the protocol that ran; a mixed mesh's: `mix-<search>-<extract>-<triple>-<reason>`",
    "agent_count": "how many agents the mesh had",
    "seed": "the scenario's seed (victims, workload, service times)",
    "partial": "true when the log has no `run_end` (the runner was killed) or unreadable lines; "
               "the metrics are then computed over what was recorded",
    "notes": "what the reader should know: a cut-off log, skipped lines, questions whose "
             "supporting fragments are unknown",
    "fault": "the first storm: injected or not, strike time `t_s`, victims, kind, number of "
             "storms, restart delay, failure handling, failure scale, security",
    "details": "each storm figure's breakdown and, for a null, its reason; on a cluster run, "
               "`clock`: its hosts' clocks against the runner's (see *host clocks*)",
}

def spec(key: str) -> MetricSpec | None:
    """The entry of a figure by its key, or by the name of its breakdown under "details"."""
    if key in BY_KEY:
        return BY_KEY[key]
    return next((s for s in STORM if s.details == key), None)


__all__ = ["CATALOGUE", "COMPARED", "OVERHEAD", "PARTS", "RUN", "RUN_FACTS", "STORM",
           "MetricSpec", "spec"]
