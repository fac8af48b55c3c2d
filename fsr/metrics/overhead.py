"""Protocol overhead: what each plane of traffic costs on the wire, from the socket-layer counters.

A pure function over a `History`, like the checkers. Its inputs are the three events that carry
wire bytes (`fsr.bus.mesh`): ``send`` (one per frame put on a socket: ``wire`` bytes, of which
``pay`` is the application payload, ``env`` the protocol's envelope, and the rest ZMTP framing),
``hb_seen`` (one heartbeat copy that reached a subscriber: ``wire`` only) and ``zmtp_connect`` (one
ZeroMQ connection handshake, both directions: ``wire`` only). ``handshake_done`` events count the
protocol handshakes that completed. Definitions are in docs/compare.md ("Overhead figures").
"""

from __future__ import annotations

from typing import Any

from fsr.metrics.checkers import r3
from fsr.metrics.history import History

# the categories sent as frames by `Mesh.send_frame` / `send_control`
SEND_CATEGORIES = ("task", "handshake", "control", "broadcast")
SPLIT = ("wire", "payload", "envelope", "zmtp_framing")


def split(sends: list[dict[str, Any]]) -> dict[str, int]:
    """Frames and wire bytes of `send` events, split into payload, envelope and ZMTP framing."""
    wire = sum(e["wire"] for e in sends)
    payload = sum(e["pay"] for e in sends)
    envelope = sum(e["env"] for e in sends)
    return {"frames": len(sends), "wire": wire, "payload": payload, "envelope": envelope,
            "zmtp_framing": wire - payload - envelope}


def per(total: float, count: float) -> float | None:
    """total / count, or None when there is nothing to divide by (the figure is undefined)."""
    return r3(total / count) if count else None


def overhead(h: History) -> dict[str, Any]:
    sends = h.of("send")
    cats = {c: split([e for e in sends if e["cat"] == c]) for c in SEND_CATEGORIES}
    answered = sum(t.status == "answered" for t in h.tasks)
    task = cats["task"]
    # amortised: every task frame of the run (retries and failed tasks included) over the tasks
    # that produced an answer, i.e. what one useful answer cost on the wire
    per_task = {"answered": answered, "frames": per(task["frames"], answered),
                **{k: per(task[k], answered) for k in SPLIT}}

    beats = [e["wire"] for e in h.of("hb_seen")]
    heartbeat = {"copies": len(beats), "bytes_per_heartbeat": per(sum(beats), len(beats)),
                 "total": sum(beats)}

    zmtp = h.of("zmtp_connect")
    sockets = sorted({e.get("sock", "?") for e in zmtp})
    by_socket = {s: {"connections": sum(e.get("sock", "?") == s for e in zmtp),
                     "wire": sum(e["wire"] for e in zmtp if e.get("sock", "?") == s)}
                 for s in sockets}
    zmtp_wire = sum(e["wire"] for e in zmtp)
    proto = cats["handshake"]
    completed = len(h.of("handshake_done"))
    handshake = {
        "protocol": proto,
        "zmtp": {"connections": len(zmtp), "wire": zmtp_wire, "by_socket": by_socket},
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
        "task": {**task, "overhead_share": per(task["envelope"] + task["zmtp_framing"],
                                               task["wire"])},
        "heartbeat": heartbeat,
        "handshake": handshake,
        "control": cats["control"],
        "broadcast": cats["broadcast"],
        "total": total,
    }


__all__ = ["overhead", "split"]
