"""Which host each agent runs on (``cluster.placement``): a pure function of the agents and the
hosts, so the runner and the tests agree on it without a cluster.

* ``spread``: agent i on host i mod n, round-robin: the hosts' shares differ by one at most;
* ``pack``: the hosts filled in order, ceil(agents / n) each: a lost host takes a run of
  consecutive agents, and the last hosts may hold fewer, or none.
"""

from __future__ import annotations

import math

from fsr.config.schema import PLACEMENTS


def place(agent_ids: list[str], hosts: list[str], placement: str) -> dict[str, str]:
    """Agent -> its host, the hosts taken in the order given; ValueError for no hosts, a host
    given twice or an unknown placement."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement: must be one of {', '.join(PLACEMENTS)} (got {placement!r})")
    if not hosts:
        raise ValueError("placement: no hosts to place the agents on")
    if len(set(hosts)) != len(hosts):
        raise ValueError(f"placement: a host is given twice (got {hosts!r})")
    if placement == "spread":
        return {a: hosts[i % len(hosts)] for i, a in enumerate(agent_ids)}
    each = max(1, math.ceil(len(agent_ids) / len(hosts)))  # max: no agents, no division by 0
    return {a: hosts[i // each] for i, a in enumerate(agent_ids)}
