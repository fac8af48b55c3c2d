"""Sharding: which agents keep which fragments after the t = 0 broadcast.

Fragment i (in document order) goes to agents (i + r) mod N for r in 0 .. min(replication, N) - 1,
where N = len(agents) in the order given. Consecutive placement is deterministic, spreads
fragments evenly (each agent holds ~len(fids) * replication / N), and means a fragment is lost
only when all `replication` consecutive agents holding it are down at once.
"""

from __future__ import annotations

from collections.abc import Sequence


def assign_shards(
    fids: Sequence[str], agents: Sequence[str], replication: int
) -> dict[str, list[str]]:
    """agent -> the fids it keeps, in document order."""
    if replication < 1:
        raise ValueError("replication must be >= 1")
    n = len(agents)
    shards: dict[str, list[str]] = {a: [] for a in agents}
    if n == 0:
        return shards
    for i, fid in enumerate(fids):
        for r in range(min(replication, n)):
            shards[agents[(i + r) % n]].append(fid)
    return shards


def holders(shards: dict[str, list[str]]) -> dict[str, list[str]]:
    """fid -> the agents that hold it (inverse of `assign_shards`), in agent order."""
    out: dict[str, list[str]] = {}
    for agent, fids in shards.items():
        for fid in fids:
            out.setdefault(fid, []).append(agent)
    return out
