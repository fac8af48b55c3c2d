"""The catalogue of message kinds: what a `Message` can be, declared once.

Application kinds cross the wire inside the run's protocol framing; local kinds are made by a
node's own adapter and never cross the wire as themselves. Every module names a kind by its
constant here (`tests/protocols/test_kinds.py` proves it from the code's syntax tree). Control
messages between the runner and agents are another plane, with their kinds in
`fsr.bus.schema.CONTROL`.
"""

from __future__ import annotations

# -- application messages ---------------------------------------------------------------------
STAGE_REQUEST = "stage_request"  # ask an agent to run a stage of its role for a task
STAGE_REPLY = "stage_reply"  # its output or error (reply_to = the request's msg_id)
LOOKUP = "lookup"  # ask a shard holder for its best fragments for a question
LOOKUP_REPLY = "lookup_reply"  # the hits, or an error
DOCUMENT = "document"  # the runner's broadcast: the document and every agent's shard
REQUESTS = frozenset({STAGE_REQUEST, LOOKUP})  # answered with a reply
REPLY_TO = {STAGE_REQUEST: STAGE_REPLY, LOOKUP: LOOKUP_REPLY}
# Which byte category each application kind is counted under.
CATEGORY = {DOCUMENT: "broadcast", STAGE_REQUEST: "task", STAGE_REPLY: "task", LOOKUP: "task",
            LOOKUP_REPLY: "task"}

# -- made by a node's own adapter ---------------------------------------------------------------
# a handshake with the peer completed (body: peer, role, shard_version, incarnation)
PEER_READY = "peer_ready"
HOP_LOST = "hop_lost"  # the peer no longer knows a request we sent it (reply_to)
PONG = "pong"  # the peer answered one of our liveness pings (seq)
LOCAL = (PEER_READY, HOP_LOST, PONG)
