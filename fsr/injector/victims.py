"""Whom a storm strikes: its targets resolved, when it strikes, among the agents no other fault
holds at that moment.

* ``fraction``: a share of the whole mesh, drawn with the seeded RNG among the free agents —
  storm 0 with ``random.Random(seed)``, storm i with ``Random(f"{seed}/{i}")`` — so a seed names
  the victims of every storm;
* ``ids`` / ``role``: those agents, the free ones among them;
* ``holders_of``: the agents that hold a fragment, from the run's shards
  (`fsr.workload.shards.holders`), the free ones among them.
"""

from __future__ import annotations

import random

from fsr.config.schedule import Targets


def resolve_targets(targets: Targets, storm: int, agents: list[str], free: list[str],
                    roles: dict[str, list[str]], holders: dict[str, list[str]],
                    seed: int) -> list[str]:
    """The agents a storm strikes, sorted, among `free` (those no other fault holds now). A
    fraction is of the whole mesh, drawn among the free agents."""
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
