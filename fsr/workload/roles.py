"""The roles of the work and who holds them.

A task visits four stages, each served by agents of one role: search / extract / triple /
reason. Roles are dealt round-robin over the agents, one tool per agent. With fewer than four
agents (the debugging mode `--agent-count 1`) the four tools are dealt round-robin over the
agents, so an agent may hold several; hops still cross the mesh (to itself if need be).
"""

from __future__ import annotations

ROLES = ("search", "extract", "triple", "reason")
STAGES = ROLES  # a task visits the roles in this order


def roles_of(index: int, agent_count: int) -> list[str]:
    if agent_count >= len(ROLES):
        return [ROLES[index % len(ROLES)]]
    return [r for j, r in enumerate(ROLES) if j % agent_count == index]


def agent_id(index: int) -> str:
    return f"agent_{index}"


def agent_ids(agent_count: int) -> list[str]:
    """Every agent's id in a mesh of `agent_count`, in index order."""
    return [agent_id(i) for i in range(agent_count)]
