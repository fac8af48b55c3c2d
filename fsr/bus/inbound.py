"""What a node's inbox holds, tagged by plane: a protocol frame (for the adapter), a control
message (the runner steering an agent, an agent reporting to the runner) or a SWIM membership
message. `Mesh.recv` returns one at a time; `MeshNode` hands each to its reader.

Control and SWIM messages are msgpack maps checked against their schema (`fsr.bus.schema`)
here, at the edge; one that fails is dropped with the reason (`side_plane` says why).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgpack

from fsr.bus.schema import check_control, check_swim

SWIM_TAG = b"swim"  # first frame of a SWIM membership message (control's is empty)
MAX_CONTROL = 1 << 20  # bytes of one control body (a task's question is far smaller)


class FrameIn(NamedTuple):
    """One protocol frame (a batch's frames come one by one)."""

    sender: str
    data: bytes
    protocol: str = ""  # a mixed mesh's tagged frame: its protocol; "": the node's own


class ControlIn(NamedTuple):
    sender: str
    body: dict[str, Any]


class SwimIn(NamedTuple):
    sender: str
    body: dict[str, Any]


Inbound = FrameIn | ControlIn | SwimIn


def side_plane(sender: str, tag: bytes, data: bytes, control_senders: set[str] | None
               ) -> ControlIn | SwimIn | str:
    """A control (empty `tag`) or SWIM message, decoded and checked; or why it is dropped.
    `control_senders`: whose control messages are taken (None: anyone's)."""
    plane = "control" if tag == b"" else "swim"
    if plane == "control" and control_senders is not None and sender not in control_senders:
        return f"control from {sender[:40]!r}, not an accepted sender"
    if len(data) > MAX_CONTROL:
        return f"{plane}: {len(data)} bytes, over {MAX_CONTROL}"
    try:
        body = msgpack.unpackb(data)
        why = check_control(body) if plane == "control" else check_swim(body)
    except (ValueError, msgpack.UnpackException) as exc:
        return f"{plane}: {exc}"
    if why is not None:
        return why
    return ControlIn(sender, body) if plane == "control" else SwimIn(sender, body)
