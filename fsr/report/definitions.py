"""What each figure of ``failstorm_metrics.json`` means: its entry in the metric catalogue.

A definition is the paragraph `fsr.metrics.catalogue` declares for the figure (the same text as
``docs/metrics.md``), plus the values this run used for any setting it names in backticks
(``steady_window`` and friends). Config keys are explained by the help text of their field in
`fsr.config.schema`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from fsr.config.schema import Config
from fsr.metrics import checkers as c
from fsr.metrics.catalogue import STORM, spec

# The storm figures the checkers compute, with a breakdown under "details": top-level key ->
# (the checker, the key of its breakdown). `inflight` has a block of its own in the report.
HEADLINE: dict[str, tuple[Callable[..., Any], str]] = {
    s.key: (getattr(c, s.details), s.details) for s in STORM if s.details and s.key != "inflight"}
_TICKED = re.compile(r"`(\w+)`")
_SECRET = re.compile(r"key|secret|token|password", re.I)


def definition(key: str, config: dict[str, Any] | None = None) -> str:
    """One paragraph: the catalogue's definition of a figure (by its key, or by the name of its
    breakdown under "details"); "" for a key the catalogue does not hold."""
    entry = spec(key)
    text = entry.definition if entry else ""
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
