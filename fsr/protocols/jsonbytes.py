"""Compact JSON, fast: orjson wherever its result is the standard library's, `json` elsewhere.

The framings define their bytes as ``json.dumps(obj, separators=(",", ":"))`` (ASCII-escaped,
optionally with sorted keys) and parse them with ``json.loads``. orjson does both about ten times
faster and agrees almost everywhere; where it may not, these functions hand the object to `json`,
so the bytes on the wire and the decoded values stay exactly the standard library's
(tests/protocols/test_jsonbytes.py compares them).

Where orjson differs, and what sends the work back to `json`:

* writing: non-ASCII text (orjson writes UTF-8, json ``\\uXXXX``): output not ASCII; DEL (json
  escapes it): ``\\x7f`` in the output; floats below 1e-4 (``1e-05`` / ``0.00001``, ``2.5e-07`` /
  ``2.5e-7``): a digit, ``e-``, a digit, or ``0.0000`` in the output (looked for only where
  ``e-`` or ``0.0000`` appears, as in many a UUID); NaN and infinities (json ``NaN``, orjson
  ``null``): ``null`` in the output and a non-finite float in the object; integers past 64 bits,
  non-string keys, dataclasses and datetimes: orjson raises. (A `uuid.UUID` or a plain `Enum`,
  which json refuses, orjson writes: no framing puts one in a body.)
* reading: integers past 64 bits (orjson makes them floats): a run of 19 digits in the input;
  whatever orjson refuses (lone surrogates, ``NaN``, a BOM, ...): `json` decides, and its error
  is the one raised.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_WRITE = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_WRITE_SORTED = _WRITE | orjson.OPT_SORT_KEYS
# digits -> "0", anything else -> " ": a 19-digit run is then a substring search (a regex scan
# costs eight times as much)
_DIGIT_MAP = bytes(ord("0") if chr(b).isdigit() else ord(" ") for b in range(128)) + b" " * 128
_LONG_INT = b"0" * 19
# digits -> "0", "e", "-" and "." kept, anything else -> " ": the shapes of a small float
_NUMBER_MAP = bytes(ord("0") if chr(b).isdigit() else b if chr(b) in "e-." else ord(" ")
                    for b in range(128)) + b" " * 128


def dumps(obj: Any, sort_keys: bool = False, floats: bool = True) -> bytes:
    """``json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys).encode()``. ``floats=False``:
    the caller knows `obj` holds no float (an envelope of ids and counters), so a ``null`` in the
    output is a None and the object need not be searched for a NaN."""
    try:
        out = orjson.dumps(obj, option=_WRITE_SORTED if sort_keys else _WRITE)
    except TypeError:  # orjson.JSONEncodeError: big int, non-str key, passthrough type, ...
        out = None
    if (out is None or not out.isascii() or b"\x7f" in out or _small_float(out)
            or (floats and b"null" in out and _non_finite(obj))):
        return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys).encode()
    return out


def loads(data: bytes) -> Any:
    """``json.loads(data)``."""
    if _LONG_INT not in data.translate(_DIGIT_MAP):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _small_float(out: bytes) -> bool:
    """Whether orjson may have written a float below 1e-4 (its text differs from json's)."""
    if b"e-" not in out and b"0.0000" not in out:
        return False
    shapes = out.translate(_NUMBER_MAP)
    return b"0e-0" in shapes or b"0.0000" in shapes


def _non_finite(obj: Any) -> bool:
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(map(_non_finite, obj.values()))
    if isinstance(obj, list | tuple):
        return any(map(_non_finite, obj))
    return False
