"""Edge validation: the shape every body must have before any handler sees it.

A `Schema` names, per field, the accepted types, whether the field is required, and a size
bound (characters of a string, items of a list or map). `check` returns the first problem as a
short reason — the caller logs it as ``frame_dropped`` and drops the body — or None. Nothing here
raises on bad input: that is the point.

Used for the control plane (`CONTROL`, here) and for the application messages the agents
exchange (`fsr.agents.messages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    types: tuple[type, ...]
    required: bool = True
    max_size: int = 4096  # characters of a str, items of a list/dict
    choices: frozenset[Any] | None = None


Schema = dict[str, Field]

ID = Field((str,), max_size=128)
TEXT = Field((str,), max_size=65536)
INT = Field((int,))


def opt(f: Field) -> Field:
    return Field(f.types, False, f.max_size, f.choices)


def check(body: Any, schema: Schema, what: str) -> str | None:
    """The first way `body` breaks `schema`, or None. Unknown extra fields are allowed (a newer
    peer may add some); missing, mistyped or oversized known fields are not."""
    if not isinstance(body, dict):
        return f"{what}: body is {type(body).__name__}, not a map"
    for name, f in schema.items():
        if name not in body or body[name] is None:
            if f.required:
                return f"{what}: missing {name!r}"
            continue
        value = body[name]
        # bool is an int subclass: a flag is never a count
        if isinstance(value, bool) and bool not in f.types:
            return f"{what}: {name!r} is a bool"
        if not isinstance(value, f.types):
            want = "|".join(t.__name__ for t in f.types)
            return f"{what}: {name!r} is {type(value).__name__}, not {want}"
        if isinstance(value, str | list | dict | bytes) and len(value) > f.max_size:
            return f"{what}: {name!r} longer than {f.max_size}"
        if f.choices is not None and value not in f.choices:
            return f"{what}: {name!r} is not one of {sorted(f.choices)}"
    return None


TASK_STATUSES = frozenset({"answered", "failed", "timed_out"})

# The runner <-> agent control plane, by kind ("k"). Who may send each kind is the receiver's
# business (`fsr.bus.mesh.Mesh.control_senders`).
CONTROL: dict[str, Schema] = {
    # runner -> agent
    "task": {"task_id": ID, "question": TEXT},
    "connect": {},  # every agent is listening now: open your links to your neighbours
    "stop": {},
    # agent -> runner
    "hello": {"pid": INT, "incarnation": ID},
    "ready": {"roles": Field((list,), max_size=16)},
    "shard_loaded": {"version": INT},
    "task_done": {"task_id": ID, "status": Field((str,), choices=TASK_STATUSES),
                  "answer": opt(TEXT), "reason": opt(TEXT),
                  "passages": opt(Field((list,), max_size=64))},
}


def check_control(body: Any) -> str | None:
    if not isinstance(body, dict):
        return f"control: body is {type(body).__name__}, not a map"
    kind = body.get("k")
    if not isinstance(kind, str) or kind not in CONTROL:
        return f"control: unknown kind {str(kind)[:40]!r}"
    return check(body, CONTROL[kind], f"control {kind}")


# SWIM membership messages (`fsr.bus.swim`), agent <-> agent; each update is
# [alive | suspect | dead, member, incarnation, process], and under Lifeguard a suspect update's
# fifth item, who suspects the member
SWIM: Schema = {"t": Field((str,), choices=frozenset({"ping", "ack", "ping_req", "gossip"})),
                "p": ID, "n": INT, "g": Field((list,), max_size=64), "seq": opt(INT),
                "target": opt(ID)}


def check_swim(body: Any) -> str | None:
    if not isinstance(body, dict):
        return f"swim: body is {type(body).__name__}, not a map"
    why = check(body, SWIM, "swim")
    if why is None and body["t"] != "gossip" and not isinstance(body.get("seq"), int):
        why = f"swim {body['t']}: no seq"
    for u in body.get("g") or [] if why is None else []:
        if not (isinstance(u, list) and (len(u) == 4 or (len(u) == 5 and u[0] == "suspect"
                                                          and isinstance(u[4], str)
                                                          and len(u[4]) <= 128))
                and u[0] in ("alive", "suspect", "dead")
                and isinstance(u[1], str) and isinstance(u[2], int) and isinstance(u[3], str)
                and len(u[1]) <= 128 and len(u[3]) <= 128):
            return "swim: malformed update"
    return why
