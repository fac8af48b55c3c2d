"""What each figure of ``failstorm_metrics.json`` means, read from the code that computes it.

A definition is the docstring of the checker that produces the figure (so the report cannot drift
from the code), plus the values this run used for any setting the docstring names in backticks
(``steady_window`` and friends). Config keys are explained by the help text of their field in
`fsr.config.schema`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from fsr.config.schema import Config
from fsr.metrics import checkers as c
from fsr.metrics.llm import llm_usage
from fsr.metrics.storms import overall, storm_metrics

# The five metrics of the spec and detection: top-level key -> (the checker that computes it,
# the key of its breakdown under "details").
HEADLINE: dict[str, tuple[Callable[..., Any], str]] = {
    "recovery_ms": (c.recovery, "recovery"),
    "steady_state_ms": (c.steady_state, "steady_state"),
    "bytes_reconnect": (c.bytes_reconnect, "bytes_reconnect"),
    "success_rate_drop": (c.success_rate_drop, "success_rate_drop"),
    "duplicate_work_ratio": (c.duplicate_work, "duplicate_work"),
    "detection_ms": (c.detection, "detection"),
    "rejoin_ms": (c.rejoin, "rejoin"),
    "failover_ms": (c.failover, "failover"),
}
# The other figures whose producer's name differs from the key.
FIGURES: dict[str, Callable[..., Any]] = {
    "tasks": c.task_window,
    "bytes": c.bytes_summary,
    "llm": llm_usage,
    "storms": storm_metrics,
    "storms_overall": overall,
}
# Producers in modules that may not exist yet (or may be mid-edit): key -> (module, function),
# imported only when a definition is asked for, and any failure to import means no definition.
LATE: dict[str, tuple[str, str]] = {
    "inflight": ("fsr.metrics.inflight", "inflight"),
}
_TICKED = re.compile(r"`(\w+)`")
_SECRET = re.compile(r"key|secret|token|password", re.I)


def producer(key: str) -> Callable[..., Any] | None:
    """The function that computes a top-level figure: registered above (`LATE` ones only if their
    module imports), else one of the same name in the checkers or in a module
    ``fsr.metrics.<key>`` (figures added later find theirs)."""
    if key in HEADLINE:
        return HEADLINE[key][0]
    if key in FIGURES:
        return FIGURES[key]
    if key in LATE:
        return optional(*LATE[key])
    if callable(getattr(c, key, None)):
        return getattr(c, key)
    return optional(f"fsr.metrics.{key}", key)


def optional(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` if the module imports and holds such a function, else None. Any error
    while importing counts as absent: a missing definition must not stop the report."""
    try:
        fn = getattr(importlib.import_module(module), name, None)
    except Exception:
        return None
    return fn if callable(fn) else None


def definition(key: str, config: dict[str, Any] | None = None) -> str:
    """One paragraph: the producer's docstring, the fallback above, or its module's summary."""
    fn = producer(key)
    text = ""
    if fn is not None:
        text = inspect.getdoc(fn) or ""
        if not text and fn.__module__ == f"fsr.metrics.{key}":
            text = (inspect.getdoc(inspect.getmodule(fn)) or "").split("\n\n")[0]
    text = " ".join(text.split())
    return text + settings_note(text, config) if text else ""


def settings_note(text: str, config: dict[str, Any] | None) -> str:
    """' [this run: steady_window = 10.0, …]' for the config keys the text names in backticks."""
    if not config:
        return ""
    leaves = flatten_config(config)
    found = []
    for name in dict.fromkeys(_TICKED.findall(text)):
        keys = [k for k in leaves if k.rsplit(".", 1)[-1] == name]
        if len(keys) == 1:
            found.append(f"{name} = {leaves[keys[0]]}")
    return f" [this run: {', '.join(found)}]" if found else ""


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out.update(flatten_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_rows(config: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(dotted key, value, help) for every leaf of a run's config; secrets are redacted."""
    rows = []
    for key, value in flatten_config(config).items():
        if value is not None and _SECRET.search(key.rsplit(".", 1)[-1]):
            value = "(redacted)"
        rows.append((key, value, config_help(key)))
    return rows


def config_help(key: str) -> str:
    """The help text of a config field, from its dataclass metadata in `fsr.config.schema`."""
    node: Any = Config
    help_text = ""
    for part in key.split("."):
        if not dataclasses.is_dataclass(node):
            break  # inside a free-form dict (per-protocol overrides): the dict's help covers it
        f = {f.name: f for f in dataclasses.fields(node)}.get(part)
        if f is None:
            return ""
        help_text = f.metadata.get("help", "")
        node = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
    return help_text
