"""The message-kind catalogue (`fsr/protocols/kinds.py`) is the one place a kind is spelled:
checked on the code's syntax tree, with no exemptions."""

from __future__ import annotations

import ast
from pathlib import Path

from fsr.protocols import kinds

ROOT = Path(__file__).resolve().parents[2] / "fsr"


KNOWN = {v for k, v in vars(kinds).items() if k.isupper() and isinstance(v, str)}


def spelled_kinds(tree: ast.Module) -> list[tuple[int, str]]:
    """Strings in a kind's place: a `Message`'s kind argument (any string: a new kind must be
    declared), and a known kind compared with a `.kind` (storms and frames have kinds too)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "Message":
            for arg in node.args[:1] + [k.value for k in node.keywords if k.arg == "kind"]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.append((node.lineno, arg.value))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "kind" for s in sides):
                out += [(node.lineno, n.value) for s in sides for n in ast.walk(s)
                        if isinstance(n, ast.Constant) and n.value in KNOWN]
    return out


def test_no_message_kind_is_spelled_outside_the_catalogue() -> None:
    spelled = [f"{path.relative_to(ROOT)}:{line}: {name!r}"
               for path in sorted(ROOT.rglob("*.py")) if path != ROOT / "protocols" / "kinds.py"
               for line, name in spelled_kinds(ast.parse(path.read_text()))]
    assert spelled == []


def test_every_application_kind_has_a_schema_and_a_byte_category() -> None:
    from fsr.agents.messages import SCHEMAS

    application = {kinds.STAGE_REQUEST, kinds.STAGE_REPLY, kinds.LOOKUP, kinds.LOOKUP_REPLY,
                   kinds.DOCUMENT}
    assert set(kinds.CATEGORY) == application
    assert application | {kinds.HOP_LOST} == set(SCHEMAS)
    assert set(kinds.REPLY_TO) == kinds.REQUESTS <= application
