"""The mesh every process of a run sits on: ZeroMQ sockets and what they carry below a protocol.

It owns the sockets of one node and their byte counters (`mesh`), the event loop every process
shares (`node`), liveness below the protocol — Paranoid Pirate heartbeats on PUB/SUB
(`heartbeat`) or SWIM membership (`swim`) — the wire-byte formulas (`wire`), CurveZMQ
(`security`), edge validation of bodies (`schema`) and who connects to whom (`topology`).
It knows nothing of tasks, tools or faults; protocol framing comes from `fsr.protocols`.
"""
