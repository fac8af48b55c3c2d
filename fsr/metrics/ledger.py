"""The wire ledger: the log's most numerous events, projected in one pass into compact columns.

The events that carry wire bytes (``send``, ``hb_tally``, ``zmtp_connect``: `fsr.bus.mesh`) and
the ``deliver`` events are most of a run's log, and every checker that reads them only sums them,
bins them by time or takes a first time per message id — nothing depends on their order. So the
history keeps them here, one row of numbers per event (about 50 bytes instead of a dict of
strings), and sorts only the rest. The rows keep every figure the checkers read, so sums are the
same as over the events themselves.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from fsr import events as ev

WIRE_EVENTS = (ev.SEND, ev.HB_TALLY, ev.ZMTP_CONNECT)
CATEGORIES = ("task", "heartbeat", "handshake", "broadcast", "control")


class WireRow(NamedTuple):
    """One wire-carrying event: `copies` is a tally's count of heartbeat copies (1 for a send
    or a connection); `sock` is a connection's socket kind ("" for the others)."""

    ts: float
    event: str
    cat: str
    sock: str
    wire: int
    pay: int
    env: int
    sec: int
    copies: int


@dataclass(frozen=True)
class WireLedger:
    """Columns of `WireRow`s, in log order; `before` cuts a view (rows with ts < before)."""

    ts: array = field(default_factory=lambda: array("d"))
    # event, category and socket kind as indexes into the code tables below
    codes: array = field(default_factory=lambda: array("H"))
    counts: array = field(default_factory=lambda: array("q"))  # wire, pay, env, sec, copies
    names: list[str] = field(default_factory=list)
    # message id of a task frame -> the time it was first sent (hop latency)
    first_task_send: dict[str, float] = field(default_factory=dict)
    delivered_ts: array = field(default_factory=lambda: array("d"))
    delivered_mid: list[str] = field(default_factory=list)
    # relay legs (`hop_sent` with relay, logged just before their `send` by the same process)
    # and the wire bytes of their frames, whole run
    relay_legs: set[str] = field(default_factory=set)
    relay_wire: list[int] = field(default_factory=lambda: [0])
    before: float = math.inf

    def _code(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            self.names.append(name)
            return len(self.names) - 1

    def add(self, e: dict[str, Any]) -> None:
        """Take one ``send``, ``hb_tally`` or ``zmtp_connect`` event."""
        if e["cat"] not in CATEGORIES:
            raise ValueError(f"{e['event']}: unknown wire category {e['cat']!r}")
        event = e["event"]
        self.ts.append(e["ts"])
        self.codes.extend((self._code(event), self._code(e["cat"]),
                           self._code(e.get("sock", "?") if event == "zmtp_connect" else "")))
        self.counts.extend((e["wire"], e.get("pay", 0), e.get("env", 0), e.get("sec", 0),
                            e.get("copies", 1)))
        if event == ev.SEND and e.get("mid") in self.relay_legs:
            self.relay_wire[0] += e["wire"]
        if event == ev.SEND and e.get("cat") == "task" and (mid := e.get("mid")):
            first = self.first_task_send.get(mid)
            self.first_task_send[mid] = e["ts"] if first is None else min(first, e["ts"])

    def deliver(self, e: dict[str, Any]) -> None:
        """Take one ``deliver`` event (only its message id and time are read)."""
        if mid := e.get("mid"):
            self.delivered_ts.append(e["ts"])
            self.delivered_mid.append(mid)

    def cut(self, before: float) -> WireLedger:
        """The ledger as a view cut at `before` sees it (the same columns, not a copy)."""
        return replace(self, before=min(self.before, before))

    def rows(self, *events: str) -> Iterator[WireRow]:
        """The rows of these events (all three when none is named) before the cut."""
        names, codes, counts = self.names, self.codes, self.counts
        wanted = {self._code(e) for e in events or WIRE_EVENTS}
        for i, ts in enumerate(self.ts):
            c, n = 3 * i, 5 * i
            if ts < self.before and codes[c] in wanted:
                yield WireRow(ts, names[codes[c]], names[codes[c + 1]], names[codes[c + 2]],
                              *counts[n:n + 5])

    def hop_times(self) -> Iterator[tuple[float, float]]:
        """(first send, delivery) of each delivery of a task message, before the cut."""
        sent = {m: t for m, t in self.first_task_send.items() if t < self.before}
        for ts, mid in zip(self.delivered_ts, self.delivered_mid, strict=True):
            if ts < self.before and mid in sent:
                yield sent[mid], ts


__all__ = ["CATEGORIES", "WIRE_EVENTS", "WireLedger", "WireRow"]
