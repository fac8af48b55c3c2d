"""The event catalogue (`fsr/events.py`) names every event the code writes and every event the
metrics and reports read: a new event, or a renamed one, must be added there first."""

from __future__ import annotations

import re
from pathlib import Path

from fsr.events import CATALOGUE

ROOT = Path(__file__).resolve().parents[1] / "fsr"
WRITE = re.compile(r"(?:record|\.log|\.emit)\(\s*\"([a-z_]+)\"")
READ = re.compile(r"(?:\.of\(|\[\"event\"\] (?:==|in) \(?)((?:\s*\"[a-z_]+\",?)+)")
# names a writer picks at run time: FailStorm's fault kind; the node's peer_joined/peer_returned
DYNAMIC = {"kill", "pause", "peer_joined"}


def names(pattern: re.Pattern[str]) -> set[str]:
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        for match in pattern.finditer(path.read_text()):
            text = match.group(1)  # a bare name (a write) or quoted names (a read)
            found |= set(re.findall(r"\"([a-z_]+)\"", text)) if '"' in text else {text}
    return found


def test_every_written_event_is_catalogued() -> None:
    written = names(WRITE) | DYNAMIC
    assert len(written) > 40
    assert sorted(written - set(CATALOGUE)) == []


def test_every_read_event_is_catalogued() -> None:
    read = names(READ)
    assert {"peer_lost", "hop_sent", "task_end", "document"} <= read
    assert sorted(read - set(CATALOGUE)) == []


def test_the_catalogue_lists_nothing_that_is_never_written() -> None:
    assert sorted(set(CATALOGUE) - names(WRITE) - DYNAMIC) == []


def test_every_event_the_checkers_read_by_name_is_kept_by_the_history() -> None:
    from fsr.metrics.history import KEPT

    read_by_name: set[str] = set()
    for path in [*(ROOT / "metrics").rglob("*.py"), *(ROOT / "report").rglob("*.py")]:
        for match in re.finditer(r"\.of\(((?:\s*\"[a-z_]+\",?)+)", path.read_text()):
            read_by_name |= set(re.findall(r"\"([a-z_]+)\"", match.group(1)))
    assert {"peer_lost", "handshake_done"} <= read_by_name
    assert sorted(read_by_name - KEPT) == []
