"""The agents of a run plan (`fsr.plan`): their ids, which tool each runs, which ports they own.

Roles: round-robin over search / extract / triple / reason, one tool per agent. With fewer than
four agents (the debugging mode `--agent-count 1`) the four tools are dealt round-robin over the
agents, so an agent may hold several; hops still cross the mesh (to itself if need be).
"""

from __future__ import annotations

import socket

from fsr.plan import AgentSpec

ROLES = ("search", "extract", "triple", "reason")
STAGES = ROLES  # a task visits the roles in this order


def roles_of(index: int, agent_count: int) -> list[str]:
    if agent_count >= len(ROLES):
        return [ROLES[index % len(ROLES)]]
    return [r for j, r in enumerate(ROLES) if j % agent_count == index]


def agent_id(index: int) -> str:
    return f"agent_{index}"


def port_is_free(port: int) -> bool:
    """Nothing listens on `port`. Connections in TIME_WAIT on it do not count: libzmq binds
    with SO_REUSEADDR, and so does this probe (a big run's previous run leaves thousands)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(base: int, count: int, limit: int = 9999) -> int:
    """First port p >= base such that p .. p+count-1 are all free on loopback."""
    start = base
    while start + count - 1 <= limit:
        taken = next((p for p in range(start, start + count) if not port_is_free(p)), None)
        if taken is None:
            return start
        start = taken + 1
    raise OSError(f"no block of {count} free ports between {base} and {limit}")


def build_agents(agent_count: int, first_port: int) -> list[AgentSpec]:
    """Agent i owns data port first_port + 2i and heartbeat port first_port + 2i + 1."""
    return [
        AgentSpec(agent_id(i), i, roles_of(i, agent_count), first_port + 2 * i,
                  first_port + 2 * i + 1)
        for i in range(agent_count)
    ]
