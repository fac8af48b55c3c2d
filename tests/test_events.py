"""The event catalogue (`fsr/events.py`) is the one place an event's name is spelled: every
writer logs, and every reader selects, by its constant. Checked on the code's syntax tree, with
no exemptions: a string in an event's place anywhere in fsr/ fails here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsr import events
from fsr.events import CATALOGUE

ROOT = Path(__file__).resolve().parents[1] / "fsr"
WRITERS = {"record", "_record", "log", "emit"}  # EventLog.log/emit, MeshNode/Transport.record


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        if path != ROOT / "events.py":
            yield path, ast.parse(path.read_text())


def call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def is_event_field(node: ast.expr) -> bool:
    """e["event"], e.get("event") or an `.event` attribute."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "event"
    if isinstance(node, ast.Call) and call_name(node) == "get" and node.args:
        return isinstance(node.args[0], ast.Constant) and node.args[0].value == "event"
    return isinstance(node, ast.Attribute) and node.attr == "event"


def event_places(tree: ast.Module) -> Iterator[ast.expr]:
    """Every expression that names an event: a writer's first argument, the arguments of
    `History.of`, and what an event's name is compared with."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            if call_name(node) in WRITERS:
                yield node.args[0]
            elif call_name(node) == "of":
                yield from node.args
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_event_field(s) for s in sides):
                yield from (s for s in sides if not is_event_field(s))


def constants(expr: ast.expr) -> list[str]:
    """The strings `expr` may evaluate to (a conditional's test is not one of them)."""
    if isinstance(expr, ast.IfExp):
        return constants(expr.body) + constants(expr.orelse)
    return [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def catalogue_refs(expr: ast.expr) -> set[str]:
    """Names of the catalogue's constants `expr` uses (`ev.HOP_SENT`)."""
    return {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "ev"}


def test_no_event_name_is_spelled_outside_the_catalogue() -> None:
    spelled = [f"{path.relative_to(ROOT)}:{place.lineno}: {name!r}"
               for path, tree in modules() for place in event_places(tree)
               for name in constants(place)]
    assert spelled == []


def test_every_constant_an_event_place_uses_is_declared() -> None:
    used = {ref for _, tree in modules() for place in event_places(tree)
            for ref in catalogue_refs(place)}
    assert len(used) > 60
    assert sorted(r for r in used if getattr(events, r, None) not in CATALOGUE) == []


def test_every_declared_event_is_written_and_nothing_else_is_declared() -> None:
    written = {getattr(events, ref) for _, tree in modules() for node in ast.walk(tree)
               if isinstance(node, ast.Call) and node.args and call_name(node) in WRITERS
               for ref in catalogue_refs(node.args[0])}
    written |= set(events.FAULT_EVENTS.values())  # a storm logs its fault's kind
    assert sorted(set(CATALOGUE) - written) == []


def test_every_event_the_checkers_read_by_name_is_kept_by_the_history() -> None:
    from fsr.metrics.history import KEPT

    read = {getattr(events, ref) for path, tree in modules()
            if path.parent.name in ("metrics", "report")
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and call_name(node) == "of" for arg in node.args for ref in catalogue_refs(arg)}
    assert {"peer_lost", "handshake_done"} <= read
    assert sorted(read - KEPT) == []


def test_an_event_is_its_name_with_its_fields() -> None:
    import pickle

    import orjson

    assert events.HOP_SENT == "hop_sent" and isinstance(events.HOP_SENT, str)
    assert CATALOGUE["hop_sent"] is events.HOP_SENT
    assert events.HOP_SENT.fields[:3] == ("dst", "kind", "mid")
    assert events.HOP_SENT.doc.endswith("relay (a relay's leg)")
    assert events.FRAME_DROPPED.doc == "src, reason, wire | kind, mid"
    assert orjson.dumps({"event": events.KILL}) == b'{"event":"kill"}'
    back = pickle.loads(pickle.dumps(events.KILL))
    assert (back, back.fields, back.doc) == (events.KILL, events.KILL.fields, events.KILL.doc)
    for bad in [("hop_sent", "dst"), ("x_new", "dst dst"), ("x_new", "ts"), ("x_new", "Dst")]:
        with pytest.raises(ValueError):
            events.event(*bad)
    with pytest.raises(ValueError):
        events.event("x_new", "dst", dts="a note on no field")
    assert "x_new" not in CATALOGUE
