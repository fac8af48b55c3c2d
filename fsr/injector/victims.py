"""Whom a storm strikes: its targets resolved, when it strikes, among the agents no other fault
holds at that moment.

* ``fraction``: a share of the whole mesh, drawn with the seeded RNG among the free agents —
  storm 0 with ``random.Random(seed)``, storm i with ``Random(f"{seed}/{i}")`` — so a seed names
  the victims of every storm;
* ``ids`` / ``role``: those agents, the free ones among them;
* ``holders_of``: the agents that hold a fragment, from the run's shards
  (`fsr.workload.shards.holders`), the free ones among them;
* ``hosts`` (cluster mode): the free agents of those hosts, from the run's placement (a host the
  run does not have adds none); or a number of hosts, drawn with the same seeded RNG as a
  fraction among the hosts, sorted by name, that have a free agent — so, like a fraction, a
  storm never draws a host whose agents are all held — and all their free agents.

A run with a hub (ioa, `fsr.protocols.HUB_ID`): the targets above are among the other agents
(a fraction of them, drawn as without a hub; a host's agents but the hub), and ``hub: include``
adds the hub, if free — so a storm with the hub and one without, on the same seed, strike the
same other agents.
"""

from __future__ import annotations

import random

from fsr.config.schedule import Targets


def _rng(seed: int, storm: int) -> random.Random:
    return random.Random(seed if storm == 0 else f"{seed}/{storm}")


def resolve_targets(targets: Targets, storm: int, agents: list[str], free: list[str],
                    roles: dict[str, list[str]], holders: dict[str, list[str]],
                    hosts: dict[str, list[str]], seed: int, hub: str | None = None
                    ) -> list[str]:
    """The agents a storm strikes, sorted, among `free` (those no other fault holds now);
    `hosts`: each host's agents. A fraction is of the whole mesh but its `hub`, drawn among the
    free agents; the hub is struck only with ``hub: include``."""
    if hub is not None:
        clients = [a for a in agents if a != hub]
        on_hosts = {h: [a for a in members if a != hub] for h, members in hosts.items()}
        others = resolve_targets(targets, storm, clients, [a for a in free if a != hub], roles,
                                 holders, on_hosts, seed)
        return sorted([*others, hub]) if targets.hub and hub in free else others
    if targets.fraction is not None:
        count = min(round(targets.fraction * len(agents)), len(free))
        return sorted(_rng(seed, storm).sample(sorted(free), count))
    if targets.hosts is not None:
        struck = targets.hosts
        if isinstance(struck, int):
            live = sorted(h for h, members in hosts.items() if not set(members).isdisjoint(free))
            struck = tuple(_rng(seed, storm).sample(live, min(struck, len(live))))
        chosen = {a for h in struck for a in hosts.get(h, [])}
    elif targets.ids:
        chosen = set(targets.ids)
    elif targets.role is not None:
        chosen = {a for a in agents if targets.role in roles.get(a, [])}
    else:
        chosen = set(holders.get(targets.holders_of or "", []))
    return sorted(chosen & set(free))
