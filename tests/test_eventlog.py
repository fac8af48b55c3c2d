"""The event log's writer: `EventLog.emit` (the per-frame fast path) writes byte for byte the line
`EventLog.log` (structlog's bound logger) writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsr import eventlog
from fsr.eventlog import EventLog, read_events


def test_emit_writes_the_line_log_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventlog.time, "time_ns", lambda: 1_700_000_000_123_456_789)
    fields = {"dst": "b", "cat": "task", "kind": "json.stage_request", "mid": "0123456789abcdef",
              "pay": 250, "env": 90, "wire": 342, "sec": 33}
    paths = {how: tmp_path / f"{how}.jsonl" for how in ("log", "emit")}
    for how, path in paths.items():
        log = EventLog(path, "a")
        deliver = {"src": "é\x7f", "kind": "stage_reply", "mid": "", "node": "override"}
        if how == "log":
            log.log("send", **fields)
            log.log("deliver", **deliver)
        else:
            log.emit("send", dict(fields))
            log.emit("deliver", deliver)
        log.close()
    assert paths["log"].read_bytes() == paths["emit"].read_bytes()
    events, bad = read_events(paths["emit"])
    assert bad == 0 and events[0]["ts"] == 1_700_000_000.123456
    assert events[0] == {"node": "a", **fields, "event": "send", "ts": 1_700_000_000.123456}
    assert events[1]["node"] == "override"
