"""The agent process: what runs in each of the mesh's OS processes, and how they are started.

It owns one agent's event-driven life (`agent`): membership and readiness (its links to its
peers, `links`, and how they pace reconnection handshakes, `pacing`), the two multi-hop
procedures a task takes (`pipeline`), the hops in flight and their re-publication (`hops`),
the work slots that run tools off the loop (`work`), the tools themselves (`tools`), the
application messages and their schemas (`messages`), the agents' ids, roles and ports in the
run plan every agent reads (`plan`; the plan itself is `fsr.plan`), and the forkserver that
starts, watches and stops agent processes (`supervisor`; a storm's signals are the injector's).
"""
