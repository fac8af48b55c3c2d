"""The event log: every process appends structured JSON events to one shared file.

Each event is one line: ``{"ts": <unix seconds, µs>, "node": <who>, "event": <name>, ...}``.
All processes of a run open the same file with O_APPEND and write only whole lines in a single
``write()``, so lines never interleave and a run that is killed half-way still leaves a log that
`fsr replay` can read (at worst its last line is cut, and the reader skips it).

Lines are buffered and written when the owner calls `flush()` (each loop turn of an agent), so
logging costs one syscall per batch instead of one per event. A SIGKILLed agent loses at most
the events of its current loop turn.

Every frame on the wire is an event or two, so this is the data path's main cost. `log` takes
structlog's fastest path (structlog's performance docs): a filtering bound logger, cached on
first use, rendering with orjson straight to bytes into a bytes sink. The per-frame events
(``send``, ``deliver``) go through `emit`: the same two processors on the same event dict,
called directly, which skips the bound logger's per-call work (context copy, level dispatch,
result checks) — about a tenth of the cost, for the very same line.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import structlog


class _LineSink:
    """A structlog logger that collects rendered lines (bytes) and writes them in whole-line
    batches."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lines: list[bytes] = []

    def msg(self, line: bytes) -> None:
        self.lines.append(line)

    info = debug = warning = error = critical = exception = msg

    def flush(self) -> None:
        if self.lines:
            data = b"\n".join(self.lines) + b"\n"
            self.lines.clear()
            while data:
                data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        self.flush()
        os.close(self.fd)


def _dumps(obj: Any, **_: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)


def _stamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # whole microseconds; integer arithmetic, as round(time.time(), 6) costs more than the dump
    event_dict["ts"] = time.time_ns() // 1000 / 1e6
    return event_dict


class EventLog:
    """One process's writer onto the run's shared log."""

    def __init__(self, path: str | Path, node: str) -> None:
        self.path = Path(path)
        self.node = node
        self.sink = _LineSink(self.path)
        self._context = b'{"node":' + _dumps(node) + b","  # how every line starts (`emit`)
        self.logger = structlog.wrap_logger(
            self.sink,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[_stamp, structlog.processors.JSONRenderer(serializer=_dumps)],
            context_class=dict,
            cache_logger_on_first_use=True,
        ).bind(node=node)

    def log(self, event: str, **fields: Any) -> None:
        self.logger.info(event, **fields)

    def emit(self, event: str, fields: dict[str, Any]) -> None:
        """`log` for the events of every frame, with the fields as a dict, which `emit` takes
        over (it adds the event and its time): the line the bound logger would write (the
        context, the fields, the event, then the processors `_stamp` and the orjson renderer),
        built directly, the context as bytes."""
        if "node" in fields:  # a field overrides the context, in the context's place
            fields = {"node": fields.pop("node"), **fields}
            context = b"{"
        else:
            context = self._context
        fields["event"] = event
        fields["ts"] = time.time_ns() // 1000 / 1e6  # as `_stamp`
        self.sink.lines.append(context + _dumps(fields)[1:])

    def flush(self) -> None:
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()


class LogEvents:
    """The parseable events of a log, read one line at a time in file order — only roughly time
    order: processes write in batches, and a paused one late — for `build_history`, which takes
    any order, in bounded memory. After a pass, `read` and `unreadable` count the events and the
    lines skipped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.read = self.unreadable = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.read = self.unreadable = 0
        for event in _lines(self.path):
            if event is None:
                self.unreadable += 1
            else:
                self.read += 1
                yield event


def read_events(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """All parseable events of a log, in time order, and the number of unreadable lines (the
    whole log in memory: for tests and tools; the metrics stream it, `LogEvents`)."""
    events, bad = [], 0
    for event in _lines(Path(path)):
        if event is None:
            bad += 1
        else:
            events.append(event)
    # Stable sort: events of one process keep their write order when timestamps tie.
    events.sort(key=lambda e: e["ts"])
    return events, bad


def _lines(path: Path) -> Iterator[dict[str, Any] | None]:
    with path.open("rb") as fh:
        for raw in fh:
            try:
                event = orjson.loads(raw)  # its key cache shares the names of every event's fields
            except ValueError:
                yield None
                continue
            yield event if isinstance(event, dict) and "ts" in event else None
