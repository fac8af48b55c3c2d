"""Every decoder turns bad input into `MalformedFrame` and nothing else.

The adapters catch no broad exceptions, so a decoder that trips over a mutated envelope raises
out of `receive_message` here, and the test fails with the traceback. Each case replays a real
conversation between two adapters on the in-memory bus (handshake, a request and its reply, a
heartbeat) and mutates the JSON structure the receiver parsed at one point of it: one field
deleted or replaced by a value of another type. The structure is mutated after parsing, so the
frame-level checks (anp's CRC, acp's HTTP framing) pass and the decoder itself is exercised.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fsr.protocols import MalformedFrame, Message
from fsr.protocols.base import Heartbeat
from tests.protocols.fakebus import ALL_PROTOCOLS, FakeBus, request_body

# where each framing turns bytes into JSON (module, function name)
PARSERS = {"json": ("fsr.protocols.json_framing", "_parse"),
           "a2a": ("fsr.protocols.a2a", "parse_json"),
           "acp": ("fsr.protocols.acp", "parse_json"),
           "anp": ("fsr.protocols.anp", "parse_json"),
           "agora": ("fsr.protocols.agora", "parse_json"),
           "ioa": ("fsr.protocols.ioa", "parse_json")}
REPLACEMENTS: list[Any] = [None, 7, -1.5, True, "x", "", [], {}, [1, "a"], {"a": None},
                           "x" * 70_000]
DELETE = object()
CASES_PER_PROTOCOL = 1200  # seeded sample of (parse call, path, mutation)


def conversation(bus: FakeBus) -> None:
    a, b = bus.add("agent_0", "search"), bus.add("agent_1", "extract")
    a.adapter.start_handshake("agent_1")
    b.adapter.start_handshake("agent_0")
    bus.pump()
    request = Message("stage_request", request_body(300))
    a.adapter.send_message("agent_1", request)
    bus.pump()
    for got in list(b.got):
        if got.kind == "stage_request":
            reply = Message("stage_reply", {"task_id": "t00042", "stage": "extract", "ok": True,
                                            "output": {"answer": "Ada"}}, reply_to=got.msg_id)
            b.adapter.send_message("agent_0", reply)
    bus.pump()
    beat = a.adapter.encode_heartbeat(Heartbeat("agent_0", "inc-a", 3))
    with contextlib.suppress(MalformedFrame):
        b.adapter.decode_heartbeat(beat.data)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path into a parsed JSON structure (the root excluded)."""
    if isinstance(obj, dict):
        items: Any = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return
    for key, value in items:
        yield (*prefix, key)
        yield from paths(value, (*prefix, key))


def mutate(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(obj)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(value)
    return out


def run_with(protocol: str, monkeypatch: pytest.MonkeyPatch,
             change: Callable[[int, Any], Any]) -> list[Any]:
    """Run the conversation; `change(i, parsed)` may replace what the i-th parse returned."""
    module, name = PARSERS[protocol]
    mod = __import__(module, fromlist=[name])
    real = getattr(mod, name)
    seen: list[Any] = []

    def parse(*args: Any) -> Any:
        parsed = real(*args)
        seen.append(copy.deepcopy(parsed))
        return change(len(seen) - 1, parsed)

    with monkeypatch.context() as m:
        m.setattr(mod, name, parse)
        conversation(FakeBus(protocol))
    return seen


@pytest.mark.parametrize("protocol", ALL_PROTOCOLS)
def test_mutated_envelopes_raise_only_malformed_frame(
        protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = run_with(protocol, monkeypatch, lambda i, obj: obj)
    cases = [(i, p, v) for i, obj in enumerate(parsed) for p in paths(obj)
             for v in (DELETE, *REPLACEMENTS)]
    assert len(parsed) >= 5 and len(cases) > 100  # the conversation really parsed envelopes
    rng = random.Random(f"envelopes-{protocol}")
    crashes = []
    for call, path, value in rng.sample(cases, min(CASES_PER_PROTOCOL, len(cases))):
        try:
            run_with(protocol, monkeypatch,
                     lambda i, obj, c=call, p=path, v=value: mutate(obj, p, v) if i == c else obj)
        except Exception as exc:  # what the test is for: anything but MalformedFrame escaped
            shown = "deleted" if value is DELETE else repr(value)[:20]
            crashes.append(f"parse #{call} {list(path)} {shown}: {exc!r}"[:300])
    assert not crashes, f"{len(crashes)} crashes, e.g.\n" + "\n".join(sorted(set(crashes))[:15])
