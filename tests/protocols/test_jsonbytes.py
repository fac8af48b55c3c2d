"""`fsr.protocols.jsonbytes` writes compact RFC 8259 JSON (UTF-8) that `json` reads back as the
same value, byte for byte what ``json.dumps(ensure_ascii=False)`` writes wherever the two agree
on a number's text, and reads only strict JSON."""

from __future__ import annotations

import json
import math
import random
import string
from typing import Any

import pytest

from fsr.protocols import jsonbytes

TRICKY = [
    "é", "\x7f", "\x00fsr-payload\x00", "日本", "\"\\/\n\t", 1e16, 1e22, -0.0, 2**63 - 1,
    -(2**63), 2**64, -(2**63) - 1, None, True, {1: "a"}, {"b": 1, "a": 2}, (1, 2), [], {},
    "e-mail", "0.00001",
]


def _atom(rng: random.Random) -> Any:
    pick = rng.randrange(7)
    if pick == 0:
        return rng.choice(TRICKY)
    if pick == 1:
        return rng.uniform(-1e6, 1e6) * 10.0 ** rng.randint(-3, 20)
    if pick == 2:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-999, 999)
    if pick == 3:
        return "".join(rng.choice(string.printable + "é€\x7f") for _ in range(rng.randint(0, 12)))
    return rng.choice([None, True, False, "x" * rng.randint(0, 300)])


def _value(rng: random.Random, depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.4:
        return _atom(rng)
    if rng.random() < 0.5:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["a", "b", "re", "id", "body", "Z"]) + str(i): _value(rng, depth + 1)
            for i in range(rng.randint(0, 5))}


@pytest.mark.parametrize("sort_keys", [False, True])
def test_dumps_is_compact_utf8_json(sort_keys: bool) -> None:
    rng = random.Random(13)
    for obj in [*TRICKY, *(_value(rng) for _ in range(5000))]:
        # floats of 1e-3 and up: their shortest text is the same in both (1e-05 vs 1e-5 below)
        expected = json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys,
                              ensure_ascii=False).encode()
        got = jsonbytes.dumps(obj, sort_keys)
        assert got == expected, obj
        assert json.loads(got) == json.loads(expected)


def test_dumps_differs_from_json_only_as_documented() -> None:
    assert jsonbytes.dumps([1e-05, 2.5e-07]) == b"[0.00001,2.5e-7]"  # json: 1e-05, 2.5e-07
    assert jsonbytes.dumps([float("nan"), float("inf")]) == b"[null,null]"  # json: NaN (not JSON)
    assert jsonbytes.dumps("é") == "\"é\"".encode()  # UTF-8, not \\u00e9
    assert jsonbytes.dumps({"n": 2**64}) == b'{"n":18446744073709551616}'  # json's, past orjson


def test_loads_reads_what_json_reads() -> None:
    rng = random.Random(31)
    for _ in range(5000):
        obj = _value(rng)
        for data in (json.dumps(obj).encode(), json.dumps(obj, ensure_ascii=False).encode()):
            expected = json.loads(data)
            got = jsonbytes.loads(data)
            if "e+" not in repr(expected) and not _has_big_int(expected):
                assert repr(got) == repr(expected), data  # repr: tells 1 from 1.0


def _has_big_int(obj: Any) -> bool:
    if isinstance(obj, bool):
        return False
    if isinstance(obj, int):
        return not -(2**63) <= obj < 2**64
    if isinstance(obj, dict):
        return any(map(_has_big_int, obj.values()))
    if isinstance(obj, list):
        return any(map(_has_big_int, obj))
    return False


def test_loads_is_strict() -> None:
    for data in [b"", b"{", b'{"a":1}x', b"\xff", b"[1,]", b"NaN", b"[Infinity]", b"1e400",
                 b"\xef\xbb\xbf{}", b'"\\ud800"', b'"\xed\xa0\x80"']:
        with pytest.raises(ValueError):
            jsonbytes.loads(data)
    big = jsonbytes.loads(b"99999999999999999999")  # past 64 bits: a float (RFC 8259 §6)
    assert isinstance(big, float) and math.isclose(big, 1e20)
