"""Protocol overhead: what each plane of traffic costs on the wire, from the socket-layer counters.

A pure function over a `History`, like the checkers. Its inputs are the three events that carry
wire bytes (`fsr.bus.mesh`): ``send`` (one per frame put on a socket: ``wire`` bytes, of which
``pay`` is the application payload, ``env`` the protocol's envelope, ``sec`` what CURVE adds (under
``security: curve`` only), and the rest ZMTP framing), ``hb_tally`` (the heartbeat copies that
reached one subscriber in one heartbeat interval: exact ``copies``, ``wire``, ``sec``) and
``zmtp_connect`` (one ZeroMQ connection handshake, both
directions: ``wire``, ``sec``). CURVE's share is kept apart from each protocol's envelope so that
protocol comparisons read the same under either security setting. ``handshake_done`` events
count the protocol handshakes that completed. Definitions: docs/metrics.md ("The overhead report").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fsr import events as ev
from fsr.metrics.checkers import r3
from fsr.metrics.history import History
from fsr.metrics.ledger import WireRow

# the categories sent as frames by `Mesh.send_frame` / `send_control`
SEND_CATEGORIES = ("task", "handshake", "control", "broadcast")
SPLIT = ("wire", "payload", "envelope", "security", "zmtp_framing")


def security_bytes(rows: Sequence[WireRow]) -> int:
    """The bytes CURVE added to these events' wire bytes (0 under security "none")."""
    return sum(r.sec for r in rows)


def split(sends: Sequence[WireRow]) -> dict[str, int]:
    """Frames and wire bytes of `send` events, split into payload, envelope, CURVE and ZMTP
    framing."""
    wire = sum(r.wire for r in sends)
    payload = sum(r.pay for r in sends)
    envelope = sum(r.env for r in sends)
    security = security_bytes(sends)
    return {"frames": len(sends), "wire": wire, "payload": payload, "envelope": envelope,
            "security": security, "zmtp_framing": wire - payload - envelope - security}


def per(total: float, count: float) -> float | None:
    """total / count, or None when there is nothing to divide by (the figure is undefined)."""
    return r3(total / count) if count else None


def overhead(h: History) -> dict[str, Any]:
    sends = list(h.wire.rows(ev.SEND))
    cats = {c: split([r for r in sends if r.cat == c]) for c in SEND_CATEGORIES}
    answered = sum(t.status == "answered" for t in h.tasks)
    task = cats["task"]
    # amortised: every task frame of the run (retries and failed tasks included) over the tasks
    # that produced an answer, i.e. what one useful answer cost on the wire
    per_task = {"answered": answered, "frames": per(task["frames"], answered),
                **{k: per(task[k], answered) for k in SPLIT}}

    tallies = list(h.wire.rows(ev.HB_TALLY))
    copies, beats = sum(r.copies for r in tallies), sum(r.wire for r in tallies)
    # membership swim: its pings, acks and gossip are sends of category heartbeat
    swim = split([r for r in sends if r.cat == "heartbeat"])
    heartbeat: dict[str, Any] = {"copies": copies, "bytes_per_heartbeat": per(beats, copies),
                 "total": beats + swim["wire"], "security": security_bytes(tallies)
                 + swim["security"], "swim": swim}

    zmtp = list(h.wire.rows(ev.ZMTP_CONNECT))
    sockets = sorted({r.sock for r in zmtp})
    by_socket = {s: {"connections": sum(r.sock == s for r in zmtp),
                     "wire": sum(r.wire for r in zmtp if r.sock == s)}
                 for s in sockets}
    zmtp_wire = sum(r.wire for r in zmtp)
    proto = cats["handshake"]
    completed = len(h.of(ev.HANDSHAKE_DONE))
    handshake = {
        "protocol": proto,
        "zmtp": {"connections": len(zmtp), "wire": zmtp_wire, "security": security_bytes(zmtp),
                 "by_socket": by_socket},
        "total": proto["wire"] + zmtp_wire,
        "completed": completed,
        "frames_per_completed": per(proto["frames"], completed),
        "bytes_per_completed": per(proto["wire"], completed),
        "bytes_per_completed_with_zmtp": per(proto["wire"] + zmtp_wire, completed),
    }
    total = sum(c["wire"] for c in cats.values()) + heartbeat["total"] + zmtp_wire
    return {
        "per_answered_task": per_task,
        # share of task wire bytes that is not payload: the protocol's cost per byte of work
        # (envelope + ZMTP framing; CURVE's bytes are the security setting's, not the protocol's)
        "task": {**task, "overhead_share": per(task["envelope"] + task["zmtp_framing"],
                                               task["wire"])},
        "heartbeat": heartbeat,
        "handshake": handshake,
        "control": cats["control"],
        "broadcast": cats["broadcast"],
        "total": total,
    }


__all__ = ["overhead", "security_bytes", "split"]
