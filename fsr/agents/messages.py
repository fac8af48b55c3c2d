"""The application messages agents exchange, and the schema each must meet on arrival.

`check(msg)` runs before any handler sees a message (`Agent.check_message`): a body that breaks
its kind's schema is logged as ``frame_dropped`` with the reason and dropped, so a handler can
index the fields it needs without guarding every access. Nested items are checked too where a
handler reads them (the question of a stage input, each hit of a lookup reply).
"""

from __future__ import annotations

from typing import Any

from fsr.bus.schema import ID, INT, TEXT, Field, Schema, opt
from fsr.bus.schema import check as check_schema
from fsr.plan import RUNNER_ID
from fsr.protocols import Message, kinds
from fsr.workload.roles import STAGES

MAP = Field((dict,), max_size=10_000)
LIST = Field((list,), max_size=10_000)

SCHEMAS: dict[str, Schema] = {
    kinds.STAGE_REQUEST: {"task_id": ID, "stage": Field((str,), choices=frozenset(STAGES)),
                      "attempt": INT, "input": MAP},
    kinds.STAGE_REPLY: {"output": opt(MAP), "error": opt(TEXT), "missing": opt(INT)},
    kinds.LOOKUP: {"task_id": ID, "question": TEXT, "fids": opt(LIST), "k": opt(INT)},
    kinds.LOOKUP_REPLY: {"hits": opt(LIST), "error": opt(TEXT), "missing": opt(INT)},
    kinds.DOCUMENT: {"document": Field((dict,), max_size=16), "shards": MAP, "version": opt(INT)},
    kinds.HOP_LOST: {"reply_to": ID},  # made by our own adapter; checked all the same
}
HIT: Schema = {"fid": ID, "score": Field((int, float)), "text": TEXT}
STAGE_INPUT: Schema = {"question": TEXT}
# Kinds only the runner may send.
FROM_RUNNER = frozenset({kinds.DOCUMENT})


def check(msg: Message) -> str | None:
    """Why `msg` must be dropped, or None."""
    schema = SCHEMAS.get(msg.kind)
    if schema is None:
        return f"unknown message kind {msg.kind[:40]!r}"
    if msg.kind in FROM_RUNNER and msg.sender != RUNNER_ID:
        return f"{msg.kind} from {msg.sender[:40]!r}, not the runner"
    why = check_schema(msg.body, schema, msg.kind)
    if why is not None:
        return why
    body: dict[str, Any] = msg.body
    if msg.kind == kinds.STAGE_REQUEST:
        return check_schema(body["input"], STAGE_INPUT, "stage_request input")
    if msg.kind in (kinds.STAGE_REPLY, kinds.LOOKUP_REPLY) and msg.reply_to is None:
        return f"{msg.kind} without reply_to"
    if msg.kind == kinds.STAGE_REPLY and body.get("output") is None and body.get("error") is None:
        return "stage_reply with neither output nor error"
    if msg.kind == kinds.LOOKUP_REPLY:
        for hit in body.get("hits") or []:
            if (why := check_schema(hit, HIT, "lookup_reply hit")) is not None:
                return why
    if msg.kind == kinds.LOOKUP and any(not isinstance(f, str) for f in body.get("fids") or []):
        return "lookup: fids must be strings"
    if msg.kind == kinds.DOCUMENT:
        for holder, fids in body["shards"].items():
            if not isinstance(fids, list) or any(not isinstance(f, str) for f in fids):
                return f"document: shard of {str(holder)[:40]!r} is not a list of fragment ids"
    return None
