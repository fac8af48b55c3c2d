"""`fsr.protocols.jsonbytes` writes and reads exactly what `json` does, on random objects and on
every case where orjson alone would differ."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest

from fsr.protocols import jsonbytes

TRICKY = [
    "é", "\x7f", "\x00fsr-payload\x00", "日本", "\ud800", 1e-05, 2.5e-07, -3.1e-06, 1e16, 1e22,
    5e-324, -0.0, float("nan"), float("inf"), 2**63 - 1, 2**64, -(2**63) - 1, None, True,
    {1: "a"}, {"b": 1, "a": 2}, (1, 2), [], {}, "e-mail", "0.00001",
]


def _atom(rng: random.Random) -> Any:
    pick = rng.randrange(7)
    if pick == 0:
        return rng.choice(TRICKY)
    if pick == 1:
        return rng.uniform(-1e6, 1e6) * 10.0 ** rng.randint(-12, 20)
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
def test_dumps_is_json_dumps(sort_keys: bool) -> None:
    rng = random.Random(13)
    for obj in [*TRICKY, *(_value(rng) for _ in range(5000))]:
        try:
            expected = json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys).encode()
        except (TypeError, ValueError):
            continue
        assert jsonbytes.dumps(obj, sort_keys) == expected, obj


def test_loads_is_json_loads() -> None:
    rng = random.Random(31)
    texts = [json.dumps(_value(rng)).encode() for _ in range(5000)]
    texts += [b'"\xed\xa0\x80"', b"99999999999999999999", b"-9999999999999999999", b"1e400",
              b"NaN", b'{"a":1,"a":2}', b"\xef\xbb\xbf{}", b'"\\ud800"', b"-0", b" {} "]
    for data in texts:
        expected = json.loads(data)
        got = jsonbytes.loads(data)
        assert repr(got) == repr(expected), data  # repr: tells 1 from 1.0 and nan from nan


def test_loads_raises_what_json_raises() -> None:
    for data in [b"", b"{", b'{"a":1}x', b"\xff", b"[1,]"]:
        with pytest.raises(ValueError) as expected:
            json.loads(data)
        with pytest.raises(ValueError) as got:
            jsonbytes.loads(data)
        assert str(got.value) == str(expected.value)
