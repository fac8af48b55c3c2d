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
table.headline td{font-size:1.1em} .row{display:flex;gap:2em;flex-wrap:wrap}
"""


_CODE = re.compile(r"``([^`]+)``|`([^`]+)`")  # RST ``code`` or markdown `code`
_EMPHASIS = re.compile(r"\*([^*\s][^*]*)\*")


class Raw(str):
    """Markup that is already HTML: `cell` does not escape it."""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def prose(text: str) -> Raw:
    """Docstring text as HTML: `code` (or ``code``) and *emphasis*, the markups the checkers
    use."""
    code = _CODE.sub(lambda mt: f"<code>{mt.group(1) or mt.group(2)}</code>", esc(text))
    return Raw(_EMPHASIS.sub(r"<em>\1</em>", code))


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


# The five metrics of the spec, in the order the page leads with (their checkers: HEADLINE).
SEED_FIVE = ("recovery_ms", "steady_state_ms", "bytes_reconnect", "success_rate_drop",
             "duplicate_work_ratio")
INFLIGHT = "inflight"
NOT_RECORDED = "not recorded in this run"
# Tables with more rows than this are folded (a closed <details>) below the headline.
FOLD_ROWS = 12


def _reason(metrics: dict[str, Any], detail: str) -> Any:
    part = metrics.get("details", {}).get(detail)
    return part.get("reason") if isinstance(part, dict) else None


def _value(metrics: dict[str, Any], key: str) -> Raw:
    """A headline value; when null, the checker's reason beside it."""
    if key not in metrics:
        return Raw(f'<span class="null">{NOT_RECORDED}</span>')
    value = metrics[key]
    if isinstance(value, dict):
        return kv(value)
    reason = _reason(metrics, HEADLINE[key][1]) if key in HEADLINE else None
    note = f" — {esc(reason)}" if value is None and reason else ""
    css = ' class="null"' if value is None else ""
    return Raw(f"<b{css}>{esc(fmt(value))}</b>{note}")


def fold(summary: str, content: str) -> Raw:
    """Content behind a closed <details>: one click away, out of the way of the answer."""
    return Raw(f"<details><summary>{esc(summary)}</summary>{content}</details>")


def fold_long(summary: str, content: str, rows: int) -> str:
    return fold(summary, content) if rows > FOLD_ROWS else content


def counts(header: str, value: Any) -> Raw:
    """A {name: count} dict as a two-column table, biggest first."""
    if not isinstance(value, dict) or not value:
        return Raw('<p class="sub">none</p>')
    rows = sorted(value.items(), key=lambda item: (
        -item[1] if isinstance(item[1], int | float) else 0, str(item[0])))
    return table([header, "count"], rows, "inner")


def inflight_block(metrics: dict[str, Any]) -> list[str]:
    """The hops outstanding on the victims at the strike and their fate, right below the five."""
    parts = ['<h2 id="inflight">In flight at the strike</h2>']
    inf = metrics.get(INFLIGHT)
    if not isinstance(inf, dict):
        parts.append(f'<p class="null">{INFLIGHT}: {NOT_RECORDED}</p>')
        return parts
    parts.append(table(["hops outstanding on victims at the strike"], [[inf.get("n")]]))
    if inf.get("reason"):
        parts.append(f'<p class="note">{esc(inf["reason"])}</p>')
    let_go = inf.get("let_go_ms")
    if isinstance(let_go, dict):
        parts += ["<h3>Let go after (ms)</h3>",
                  table(["p50_ms", "p95_ms", "max_ms", "n"],
                        [[let_go.get(k) for k in ("p50_ms", "p95_ms", "max_ms", "n")]])]
    small = [f"<div><h3>By signal</h3>{counts('signal', inf.get('by_signal'))}</div>",
             f"<div><h3>Fates</h3>{counts('fate', inf.get('fates'))}</div>"]
    parts.append('<div class="row">' + "".join(small) + "</div>")
    cols = ("n", "answered", "p50_ms", "p95_ms")
    tasks = [(Raw(f"<b>{label}</b>"), *(part.get(c) for c in cols))
             for label, key in (("hit", "tasks_hit"), ("not hit", "tasks_not_hit"))
             if isinstance(part := inf.get(key), dict)]
    if tasks:
        parts += ["<h3>Tasks hit vs not hit</h3>", table(["tasks", *cols], tasks)]
    known = {"n", "reason", "let_go_ms", "by_signal", "fates", "tasks_hit", "tasks_not_hit"}
    rest = {k: v for k, v in inf.items() if k not in known}
    if rest:
        parts += ["<h3>More</h3>", kv(rest)]
    hops = inflight_hops(metrics)
    if hops:
        parts.append(f'<p class="sub">The {len(hops)} per-hop records: under '
                     '<a href="#inflight-hops">In-flight hops</a>, below the timeline.</p>')
    return parts


def inflight_hops(metrics: dict[str, Any]) -> list[Any]:
    """``details.inflight.hops``, or [] when the run did not record it."""
    part = metrics.get("details", {}).get(INFLIGHT)
    hops = part.get("hops") if isinstance(part, dict) else None
    return hops if isinstance(hops, list) else []


def image(name: str, png: bytes, caption: str) -> list[str]:
    return [f"<h2>{esc(name.rsplit('.', 1)[0].capitalize())}</h2>",
            f'<p class="def">{esc(caption)}</p>', img(png, name)]


def run_page(metrics: dict[str, Any], config: dict[str, Any], images: dict[str, tuple[bytes, str]],
             source: str) -> str:
    """The run report, answer first: the five metrics of the spec, what was in flight when the
    storm struck, the timeline; then, folded where long, everything else. `images` maps a file
    name to (PNG, caption); `source` says where the numbers came from. Every top-level key of the
    metrics shows up: headline, figures, run facts or the per-second table."""
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

    # 1. the answer: the five metrics of the spec
    parts += ["<h2>Headline</h2>",
              table(["metric", "value"], [(Raw(f"<b>{esc(k)}</b>"), _value(m, k))
                                          for k in SEED_FIVE], "headline")]
    # 2. what the storm caught in flight
    parts += inflight_block(m)
    # 3. the storm second by second
    rest_images = dict(images)
    if "timeline.png" in rest_images:
        parts += image("timeline.png", *rest_images.pop("timeline.png"))

    # 4. everything else, long tables folded
    details = m.get("details", {})
    defined = [k for k in HEADLINE if k in m] + ([INFLIGHT] if INFLIGHT in m else [])
    rows = []
    for k in defined:
        value = Raw('<a href="#inflight">above</a>') if k == INFLIGHT else _value(m, k)
        part = details.get(HEADLINE[k][1] if k in HEADLINE else k)
        breakdown = ({x: y for x, y in part.items() if not (k == INFLIGHT and x == "hops")}
                     if isinstance(part, dict) else {})
        rows.append((Raw(f"<b>{esc(k)}</b>"), value, prose(definition(k, config)),
                     kv(breakdown)))
    parts += ["<h2>Metrics: definitions and breakdowns</h2>",
              fold(f"{len(rows)} metrics, each with the docstring of the code that computes it",
                   table(["metric", "value", "definition", "breakdown"], rows))]
    hops = inflight_hops(m)
    if hops:
        parts += ['<h3 id="inflight-hops">In-flight hops</h3>',
                  records(hops) if all(isinstance(h, dict) for h in hops) else kv(hops)]

    for name, (data, caption) in rest_images.items():
        parts += image(name, data, caption)

    skip = set(HEADLINE) | {"details", "timeline", INFLIGHT}
    facts = [(k, v) for k, v in m.items() if k not in skip and not isinstance(v, dict)]
    figures = [(k, v) for k, v in m.items() if k not in skip and isinstance(v, dict)]
    parts.append("<h2>Other figures</h2>")
    for k, v in figures:
        text = definition(k, config)
        parts += [f"<h3>{esc(k)}</h3>", f'<p class="def">{prose(text)}</p>' if text else "",
                  fold_long(f"{k}: {len(flatten(v))} rows", kv(v), len(flatten(v)))]
    run_rows = [(Raw(f"<b>{esc(p)}</b>"), leaf) for k, v in facts for p, leaf in flatten(v, k)]
    parts += ["<h2>Run</h2>", fold_long(f"{len(run_rows)} facts", table(None, run_rows),
                                        len(run_rows))]
    conf = config_rows(config)
    parts += ["<h2>Configuration</h2>", "<p>From the log's <code>run_start</code> event.</p>",
              fold_long(f"{len(conf)} settings", table(["key", "value", "meaning"], conf),
                        len(conf))]
    if "timeline" in m:
        parts += ["<h2>Per second</h2>", f'<p class="def">{prose(definition("timeline"))}</p>',
                  records([flat_row(r) for r in m["timeline"]])]
    parts.append(f'<p class="sub">{esc(source)}</p>')
    return page(f"fsr report {m['run_id']}", "\n".join(parts))


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    return dict(flatten(row))
