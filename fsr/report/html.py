"""Self-contained HTML: one file, images as base64 data URIs, inline CSS, no script, no network.

Values are printed as JSON prints them (``null``, ``0.125``), so a number in the page reads the same
as in ``failstorm_metrics.json`` and `fsr replay`'s output.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from typing import Any

from fsr.report.definitions import HEADLINE, config_rows, definition

# Lists of records longer than this are cut in the page (the log still has them all).
MAX_LIST_ROWS = 500

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:78em;
 padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.8em;border-bottom:1px solid #ddd}
.sub{color:#555;margin-top:0}
.note{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;
 vertical-align:top;text-align:left} th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.def{max-width:34em;color:#333} .k{color:#666;white-space:nowrap} p.def{color:#333;max-width:60em}
img{max-width:100%;border:1px solid #eee} details{margin:.4em 0} summary{cursor:pointer;color:#036}
table.inner td,table.inner th{border-color:#eee;font-size:.92em;padding:.1em .4em}
.null{color:#a33} code{background:#f4f4f4;padding:0 .2em;border-radius:3px}
"""


_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = re.compile(r"\*([^*\s][^*]*)\*")


class Raw(str):
    """Markup that is already HTML: `cell` does not escape it."""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def prose(text: str) -> Raw:
    """Docstring text as HTML: `code` and *emphasis*, the two markups the checkers use."""
    return Raw(_EMPHASIS.sub(r"<em>\1</em>", _CODE.sub(r"<code>\1</code>", esc(text))))


def fmt(value: Any) -> str:
    """A scalar as JSON writes it; strings as they are."""
    return value if isinstance(value, str) else json.dumps(value)


def cell(value: Any, tag: str = "td") -> str:
    if isinstance(value, Raw):
        return f"<{tag}>{value}</{tag}>"
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ' class="null"' if value is None else ""
    return f"<{tag}{css}>{esc(fmt(value))}</{tag}>"


def table(header: Iterable[str] | None, rows: Iterable[Iterable[Any]], css: str = "") -> Raw:
    head = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    cls = f' class="{css}"' if css else ""
    return Raw(f"<table{cls}>{head}{body}</table>")


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, leaf) pairs; a list of records becomes one leaf rendered as an inner table."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out or [(prefix, "{}")]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(prefix, records(value))]
    if isinstance(value, list):
        return [(prefix, ", ".join(fmt(v) for v in value) if value else "[]")]
    return [(prefix, value)]


def records(rows: list[dict[str, Any]]) -> Raw:
    """A list of records as a collapsed inner table, columns in first-seen order."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    shown = rows[:MAX_LIST_ROWS]
    cut = f" (first {MAX_LIST_ROWS})" if len(rows) > MAX_LIST_ROWS else ""
    inner = table(cols, [[r.get(c, "") for c in cols] for r in shown], "inner")
    return Raw(f"<details><summary>{len(rows)} entries{cut}</summary>{inner}</details>")


def kv(value: Any) -> Raw:
    return table(None, [(Raw(f'<span class="k">{esc(k)}</span>'), v) for k, v in flatten(value)],
                 "inner")


def img(png: bytes, alt: str) -> Raw:
    data = base64.b64encode(png).decode("ascii")
    return Raw(f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">')


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _value(metrics: dict[str, Any], key: str) -> Raw:
    """A headline value; when null, the checker's reason beside it."""
    value = metrics[key]
    if isinstance(value, dict):
        return kv(value)
    reason = metrics["details"][HEADLINE[key][1]].get("reason")
    note = f" — {esc(reason)}" if value is None and reason else ""
    return Raw(f"<b>{esc(fmt(value))}</b>{note}")


def run_page(metrics: dict[str, Any], config: dict[str, Any], images: dict[str, tuple[bytes, str]],
             source: str) -> str:
    """The run report. `images` maps a file name to (PNG, caption); `source` says where the numbers
    came from. Every top-level key of the metrics shows up: headline, figures, run facts or the
    per-second table."""
    m = metrics
    fault = m["fault"]
    sub = (f"protocol <b>{esc(m['protocol'])}</b> · {esc(m['agent_count'])} agents · "
           f"seed {esc(m['seed'])} · ")
    sub += (f"fail storm at t = {esc(fault['t_s'])} s killed {esc(', '.join(fault['victims']))}"
            f" · restart delay {esc(fmt(fault['restart_delay_s']))} s"
            if fault["injected"] else "no fault injected")
    parts = [f"<h1>fsr report — {esc(m['run_id'])}</h1>", f'<p class="sub">{sub}</p>']
    if m["partial"] or m["notes"]:
        items = "".join(f"<li>{esc(n)}</li>" for n in m["notes"])
        parts.append(f'<div class="note"><b>{"Partial run. " if m["partial"] else ""}'
                     f"Notes:</b><ul>{items}</ul></div>")

    headline = [(Raw(f"<b>{esc(k)}</b>"), _value(m, k), prose(definition(k, config)),
                 kv(m["details"][detail])) for k, (_, detail) in HEADLINE.items() if k in m]
    parts += ["<h2>Metrics</h2>", table(["metric", "value", "definition", "breakdown"], headline)]

    for name, (data, caption) in images.items():
        parts += [f"<h2>{esc(name.rsplit('.', 1)[0].capitalize())}</h2>",
                  f'<p class="def">{esc(caption)}</p>', img(data, name)]

    skip = set(HEADLINE) | {"details", "timeline"}
    facts = [(k, v) for k, v in m.items() if k not in skip and not isinstance(v, dict)]
    figures = [(k, v) for k, v in m.items() if k not in skip and isinstance(v, dict)]
    parts.append("<h2>Other figures</h2>")
    for k, v in figures:
        text = definition(k, config)
        parts += [f"<h3>{esc(k)}</h3>", f'<p class="def">{prose(text)}</p>' if text else "", kv(v)]
    parts += ["<h2>Run</h2>", table(None, [(Raw(f"<b>{esc(p)}</b>"), leaf)
                                           for k, v in facts for p, leaf in flatten(v, k)])]
    parts += ["<h2>Configuration</h2>", "<p>From the log's <code>run_start</code> event.</p>",
              table(["key", "value", "meaning"], config_rows(config))]
    if "timeline" in m:
        parts += ["<h2>Per second</h2>", f'<p class="def">{prose(definition("timeline"))}</p>',
                  records([flat_row(r) for r in m["timeline"]])]
    parts.append(f'<p class="sub">{esc(source)}</p>')
    return page(f"fsr report {m['run_id']}", "\n".join(parts))


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    return dict(flatten(row))
