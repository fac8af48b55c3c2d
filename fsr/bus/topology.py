"""Who connects to whom: the mesh's topology, and the routes a hop takes across it.

``scenario.topology`` (the spec's future work):
* ``full`` — every agent connects to every other one (the design card's mesh);
* ``star`` — agent_0 is the hub; every other agent connects to the hub only (a protocol with a
  hub of its own, ioa, always runs this star around its hub process, `fsr.protocols.HUB_ID`);
* ``ring`` — agent i connects to agents i-1 and i+1 (mod N);
* ``random-k`` — every agent picks ``scenario.degree`` peers with an RNG seeded by the
  scenario's seed; links are two-way, so an agent has k neighbours or more. If the draw leaves
  the graph in pieces, fsr joins each piece to the next by one link between their
  lowest-numbered agents (a benchmark needs every agent reachable; docs/scenario.md says so).

An agent opens data and heartbeat connections to its neighbours only, so its membership view is
its neighbourhood. A hop to a role (or a shard holder) that no live neighbour holds is *relayed*:
it goes to a live neighbour strictly closer (in hops over the static graph) to the nearest agent
that can answer, which does the same, until it reaches one. Distances strictly shrink along the
way, so a relay never loops, whatever has failed; with no closer live neighbour the hop fails at
once (the requester re-publishes it). Each relay leg is an ordinary protocol message, counted
and logged like any other (`hop_relayed`).
"""

from __future__ import annotations

import random
from collections import deque

TOPOLOGIES = ("full", "star", "ring", "random-k")
Graph = dict[str, list[str]]


def build_topology(kind: str, ids: list[str], degree: int, seed: int) -> Graph:
    """Each agent's neighbours (two-way, sorted), for `ids` in index order."""
    links: dict[str, set[str]] = {a: set() for a in ids}

    def link(a: str, b: str) -> None:
        if a != b:
            links[a].add(b)
            links[b].add(a)

    n = len(ids)
    if kind == "full":
        return {a: [b for b in ids if b != a] for a in ids}
    if kind == "star":
        for a in ids[1:]:
            link(ids[0], a)
    elif kind == "ring":
        for i in range(n):
            link(ids[i], ids[(i + 1) % n])
    elif kind == "random-k":
        rng = random.Random(f"{seed}/topology")
        for a in ids:
            others = [b for b in ids if b != a]
            for b in rng.sample(others, min(degree, len(others))):
                link(a, b)
        pieces = components(links, ids)
        for left, right in zip(pieces, pieces[1:], strict=False):
            link(left[0], right[0])
    else:
        raise ValueError(f"unknown topology {kind!r}")
    order = {a: i for i, a in enumerate(ids)}
    return {a: sorted(links[a], key=order.__getitem__) for a in ids}


def components(links: dict[str, set[str]], ids: list[str]) -> list[list[str]]:
    """The connected pieces of the graph, each in `ids` order, ordered by their first member."""
    seen: set[str] = set()
    order = {a: i for i, a in enumerate(ids)}
    out = []
    for start in ids:
        if start in seen:
            continue
        piece, todo = [], [start]
        seen.add(start)
        while todo:
            a = todo.pop()
            piece.append(a)
            for b in links[a]:
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        out.append(sorted(piece, key=order.__getitem__))
    return out


def diameter(graph: Graph) -> int:
    """The longest shortest path, in hops (0 for one agent)."""
    return max((max(distances(graph, frozenset({a})).values()) for a in graph), default=0)


def distances(graph: Graph, targets: frozenset[str]) -> dict[str, int]:
    """Hops from every agent to the nearest of `targets` (multi-source BFS); unreachable
    agents are absent."""
    dist = {t: 0 for t in targets if t in graph}
    todo = deque(dist)
    while todo:
        a = todo.popleft()
        for b in graph[a]:
            if b not in dist:
                dist[b] = dist[a] + 1
                todo.append(b)
    return dist


class Routes:
    """One agent's view of the static graph: which neighbours lead towards a set of agents."""

    def __init__(self, me: str, graph: Graph | None) -> None:
        """`graph`: every agent's neighbours; None for a full mesh (nothing is ever relayed)."""
        self.me, self.graph = me, graph or {}
        self.neighbours = frozenset(self.graph.get(me, ()))
        self.full = graph is None
        self.linked = self.neighbours  # whom `me` links to (every agent, in a full mesh)
        self._cache: dict[frozenset[str], dict[str, int]] = {}

    @classmethod
    def of_mesh(cls, me: str, graph: Graph) -> Routes:
        """`graph` as the run plan gives it, a full mesh included (kept as None)."""
        full = all(len(p) == len(graph) - 1 for p in graph.values())
        routes = cls(me, None if full else graph)
        routes.linked = frozenset(graph.get(me, ()))
        return routes

    def shared_neighbours(self, peer: str) -> set[str]:
        """Our neighbours that are also `peer`'s (helpers for SWIM's indirect probe)."""
        if self.full:
            return set(self.linked - {peer})
        return set(self.linked & set(self.graph.get(peer, ())))

    def toward(self, targets: frozenset[str], live: set[str]) -> list[str]:
        """Live neighbours strictly closer to the nearest of `targets` than this agent, the
        closest first (ties by name); empty when none is or the graph is full."""
        if self.full or not targets:
            return []
        dist = self._cache.get(targets)
        if dist is None:
            dist = self._cache[targets] = distances(self.graph, targets)
        mine = dist.get(self.me)
        if mine is None:
            return []
        closer = [(dist[n], n) for n in self.neighbours if n in live and dist.get(n, mine) < mine]
        if not closer:
            return []
        best = min(d for d, _ in closer)
        return sorted(n for d, n in closer if d == best)
