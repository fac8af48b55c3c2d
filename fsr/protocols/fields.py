"""Typed reads of an envelope that came off the wire.

A decoder reads a parsed JSON envelope only through `Fields`: a missing field or a value of the
wrong type is a `MalformedFrame` naming the field, never a ``KeyError`` or ``TypeError``. So the
adapters need no broad ``except`` around their handlers, and a real bug in a handler raises out of
the agent's loop (and fails a test) instead of being counted as a dropped frame.
"""

from __future__ import annotations

from typing import Any

from fsr.protocols.base import MalformedFrame

_ABSENT = object()


class Fields:
    __slots__ = ("data", "where")

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise MalformedFrame(f"{where}: not an object")
        self.data: dict[str, Any] = data
        self.where = where

    def _read(self, key: str, kinds: tuple[type, ...], what: str, default: Any) -> Any:
        value = self.data.get(key, _ABSENT)
        if value is _ABSENT or value is None:
            if default is not _ABSENT:
                return default
            raise MalformedFrame(f"{self.where}.{key}: missing")
        # JSON true/false are Python bools, which are ints too: never accept one as a number
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise MalformedFrame(f"{self.where}.{key}: not {what}")
        return value

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        """The value as it came, for fields any JSON value may fill (a JSON-RPC id)."""
        return self.data.get(key, default)

    def text(self, key: str) -> str:
        """A string; an identifier may also come as a number (JSON-RPC ids do)."""
        return str(self._read(key, (str, int), "a string", _ABSENT))

    def opt_text(self, key: str) -> str | None:
        """`text`, or None when the field is absent or null."""
        value = self._read(key, (str, int), "a string", None)
        return None if value is None else str(value)

    def number(self, key: str) -> int:
        return int(self._read(key, (int,), "an integer", _ABSENT))

    def flag(self, key: str) -> bool:
        return bool(self._read(key, (bool,), "a boolean", _ABSENT))

    def obj(self, key: str) -> Fields:
        return Fields(self._read(key, (dict,), "an object", _ABSENT), f"{self.where}.{key}")

    def items(self, key: str, default: Any = _ABSENT) -> list[Any]:
        return self._read(key, (list,), "a list", default)

    def objs(self, key: str) -> list[Fields]:
        """A list of objects."""
        return [Fields(v, f"{self.where}.{key}[{i}]") for i, v in enumerate(self.items(key))]

    def first(self, key: str) -> Fields:
        """The first object of a non-empty list."""
        found = self.objs(key)
        if not found:
            raise MalformedFrame(f"{self.where}.{key}: empty")
        return found[0]


__all__ = ["Fields"]
