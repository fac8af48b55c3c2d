"""Whom a storm strikes: its targets resolved, when it strikes, among the agents no other fault
holds at that moment.

* ``fraction``: a share of the whole mesh, drawn with the seeded RNG among the free agents —
  storm 0 with ``random.Random(seed)``, storm i with ``Random(f"{seed}/{i}")`` — so a seed names
  the victims of every storm;
* ``ids`` / ``role``: those agents, the free ones among them;
* ``holders_of``: the agents that hold a fragment, from the run's shards
  (`fsr.workload.shards.holders`), the free ones among them.

A run with a hub (ioa, `fsr.protocols.HUB_ID`): the targets above are among the other agents
(a fraction of them, drawn as without a hub), and ``hub: include`` adds the hub, if free — so a
storm with the hub and one without, on the same seed, strike the same other agents.
"""

from __future__ import annotations

import random

from fsr.config.schedule import Targets


def resolve_targets(targets: Targets, storm: int, agents: list[str], free: list[str],
                    roles: dict[str, list[str]], holders: dict[str, list[str]],
                    seed: int, hub: str | None = None) -> list[str]:
    """The agents a storm strikes, sorted, among `free` (those no other fault holds now). A
    fraction is of the whole mesh but its `hub`, drawn among the free agents; the hub is struck
    only with ``hub: include``."""
    if hub is not None:
        clients = [a for a in agents if a != hub]
        others = resolve_targets(targets, storm, clients, [a for a in free if a != hub], roles,
                                 holders, seed)
        return sorted([*others, hub]) if targets.hub and hub in free else others
    if targets.fraction is not None:
        count = min(round(targets.fraction * len(agents)), len(free))
        rng = random.Random(seed if storm == 0 else f"{seed}/{storm}")
        return sorted(rng.sample(sorted(free), count))
    if targets.ids:
        chosen = set(targets.ids)
    elif targets.role is not None:
        chosen = {a for a in agents if targets.role in roles.get(a, [])}
    else:
        chosen = set(holders.get(targets.holders_of or "", []))
    return sorted(chosen & set(free))
