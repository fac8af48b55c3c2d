"""The event catalogue (`fsr/events.py`) is the one place an event's name and fields are
declared: every writer logs, and every reader selects, by its constant. Checked on the code's
syntax tree, with no exemptions: a string in an event's place anywhere in fsr/ fails here, and
so does a field a writer logs that its event does not declare, a declared field no writer logs,
or a field a checker reads (fsr/metrics, fsr/report, fsr/compare) that no event declares.

Writers (`WRITERS`). A writer's event is its first argument: ``ev.X``, ``ev.X if .. else ev.Y``,
``ev.FAULT_EVENTS[..]`` (each value), or a local name bound to one of these. A writer call that
names no event is a forwarder — a writer method (``def record(self, event, **fields)``) passing
its own arguments on, whose callers are the sites — or logs nothing (``math.log(x)``): its first
argument is a number. A site's fields are its keywords and the keys of what it splats (``**d``)
or hands `emit`, followed as far as they go: a dict literal (its ``**`` parts too); a
conditional (both sides); a local name (its assignments and ``name["key"] = ..`` stores; a
parameter: what every caller passes; a name neither assigned nor a parameter — a loop's target —
the bindings of that name elsewhere in its module); a call (what its function returns); an
attribute (the dataclass fields of that name: what every construction passes for them — a hop's
``meta``, a storm's ``params``). Of a name's bindings, those that can be followed give the keys
(a cache read holds what the others made); a splat that cannot be followed at all fails the
test, so no site goes unchecked.

Readers. In a function of fsr/metrics, fsr/report or fsr/compare, a row is a name bound by
iterating ``x.of(ev.A, ..)`` (directly, or a list bound to it or to a comprehension of rows), by
``next(..)`` of such rows, by reading back a dict or list the function fills with rows
(``d[k] = row``, ``d.setdefault(k, row)``, ``.append(row)``; ``d.get(k)``, ``d[k]``,
``d.values()``, ``d.items()``), or any name whose ``"event"`` it reads (a row of any event).
Narrowing by ``row["event"] == ev.X`` (``!=``, ``in``, ``not in``; in an ``if``, a conditional,
an ``and``, a comprehension's condition, or an ``if .. != ..: continue`` before the rest of its
block) selects among its events. Every constant key read from a row (``row["k"]``,
``row.get("k")``) must be a field of one of its events (of any event, when unknown) or one of
`IMPLICIT`. What the readers read from a value they do not trace back to a row (a key of a
row's nested dict, a row passed to a helper that reads no ``"event"``) is not checked."""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsr import events
from fsr.events import CATALOGUE, IMPLICIT

ROOT = Path(__file__).resolve().parents[1] / "fsr"
WRITERS = {"record", "_record", "log", "emit"}  # EventLog.log/emit, MeshNode/Transport.record
READERS = ("metrics", "report", "compare")
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
Fn = Any  # a function's node, or a module's
ANY: frozenset[str] = frozenset(CATALOGUE)  # a row of any event


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        if path != ROOT / "events.py":
            yield path, ast.parse(path.read_text())


def call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def is_event_field(node: ast.expr) -> bool:
    """e["event"], e.get("event") or an `.event` attribute."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "event"
    if isinstance(node, ast.Call) and call_name(node) == "get" and node.args:
        return isinstance(node.args[0], ast.Constant) and node.args[0].value == "event"
    return isinstance(node, ast.Attribute) and node.attr == "event"


def event_places(tree: ast.Module) -> Iterator[ast.expr]:
    """Every expression that names an event: a writer's first argument, the arguments of
    `History.of`, and what an event's name is compared with."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            if call_name(node) in WRITERS:
                yield node.args[0]
            elif call_name(node) == "of":
                yield from node.args
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_event_field(s) for s in sides):
                yield from (s for s in sides if not is_event_field(s))


def constants(expr: ast.expr) -> list[str]:
    """The strings `expr` may evaluate to (a conditional's test is not one of them)."""
    if isinstance(expr, ast.IfExp):
        return constants(expr.body) + constants(expr.orelse)
    return [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def catalogue_refs(expr: ast.expr) -> set[str]:
    """Names of the catalogue's constants `expr` uses (`ev.HOP_SENT`)."""
    return {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "ev"}


def declared(expr: ast.expr) -> set[str]:
    """The events the catalogue's constants in `expr` name (`FAULT_EVENTS`: its values)."""
    consts = [getattr(events, ref) for ref in catalogue_refs(expr)]
    return {e for c in consts for e in (c.values() if isinstance(c, dict) else [c])}


def key(node: ast.expr) -> str | None:
    """The string a constant key is."""
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def union(found: list[set[str] | None]) -> set[str] | None:
    """The keys of the sources that can be followed; None when none can."""
    known = [f for f in found if f is not None]
    return set().union(*known) if known else None


class Code:
    """fsr/'s modules, parsed once: each node's function and module, functions and calls by
    name, dataclass fields by name."""

    def __init__(self) -> None:
        self.parsed = list(modules())
        self.fn: dict[ast.AST, Fn] = {}
        self.module: dict[ast.AST, ast.Module] = {}
        self.defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = defaultdict(list)
        self.calls: dict[str, list[ast.Call]] = defaultdict(list)
        self.fields: dict[str, list[tuple[str, int]]] = defaultdict(list)  # -> (class, place)
        for _, mod in self.parsed:
            self._index(mod, mod, mod)

    def _index(self, node: ast.AST, fn: Fn, mod: ast.Module) -> None:
        for child in ast.iter_child_nodes(node):
            self.fn[child], self.module[child] = fn, mod
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self.defs[child.name].append(child)
            elif isinstance(child, ast.Call):
                self.calls[call_name(child)].append(child)
            elif isinstance(child, ast.ClassDef):
                own = [s.target.id for s in child.body if isinstance(s, ast.AnnAssign)
                       and isinstance(s.target, ast.Name)]
                for i, name in enumerate(own):
                    self.fields[name].append((child.name, i))
            self._index(child, child if isinstance(child, FUNCS) else fn, mod)

    # -- writers: the keys a dict may hold -------------------------------------------------
    def keys(self, expr: ast.expr, fn: Fn, seen: frozenset[Any] = frozenset()) -> set[str] | None:
        if isinstance(expr, ast.Dict):
            parts = [{k.value} if isinstance(k, ast.Constant) else None if k is not None
                     else self.keys(v, fn, seen) for k, v in zip(expr.keys, expr.values,
                                                                 strict=True)]
            return None if None in parts else union(parts)
        if isinstance(expr, ast.IfExp):
            return union([self.keys(expr.body, fn, seen), self.keys(expr.orelse, fn, seen)])
        if isinstance(expr, ast.Name):
            return self.name_keys(expr.id, fn, seen)
        if isinstance(expr, ast.Attribute) and ("attr", expr.attr) not in seen:
            seen |= {("attr", expr.attr)}
            return union([self.keys(arg, self.fn[arg], seen)
                          for cls, i in self.fields[expr.attr] for call in self.calls[cls]
                          if (arg := argument(call, expr.attr, i)) is not None])
        if isinstance(expr, ast.Call) and ("call", call_name(expr)) not in seen:
            seen |= {("call", call_name(expr))}
            if call_name(expr) == "dict" and not expr.args:
                return {k.arg for k in expr.keywords if k.arg}
            return union([self.keys(r.value, d, seen) for d in self.defs_of(expr)
                          for r in ast.walk(d) if isinstance(r, ast.Return) and r.value
                          and self.fn[r] is d])
        return None

    def defs_of(self, call: ast.Call) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """The functions a call may run: by name, those of its own module first."""
        defs = self.defs[call_name(call)]
        return [d for d in defs if self.module[d] is self.module[call]] or defs

    def name_keys(self, name: str, fn: Fn, seen: frozenset[Any]) -> set[str] | None:
        if (fn, name) in seen:
            return set()
        seen |= {(fn, name)}
        found = [self.keys(v, fn, seen) for v in bindings(fn, name)]
        stores = {k for n in ast.walk(fn) if isinstance(n, ast.Subscript)
                  and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                  and n.value.id == name and (k := key(n.slice))}
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args] \
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) else []
        if name in params:  # what every caller passes
            place = params.index(name) - (params[:1] in (["self"], ["cls"]))
            found += [self.keys(arg, self.fn[call], seen) for call in self.calls[fn.name]
                      if (arg := argument(call, name, place)) is not None]
        elif not found:  # a loop's target: the name's bindings elsewhere in the module
            found += [self.name_keys(name, other, seen) for other in ast.walk(self.module[fn])
                      if isinstance(other, FUNCS) and other is not fn and not isinstance(
                          other, ast.Lambda) and (bindings(other, name) or name in [
                              a.arg for a in other.args.args])]
        known = union(found)
        return known | stores if known is not None else stores or None

    # -- writers: the events a first argument may name ----------------------------------------
    def events_of(self, expr: ast.expr, fn: Fn) -> set[str]:
        if isinstance(expr, ast.Attribute):
            return declared(expr)
        if isinstance(expr, ast.Subscript):
            return self.events_of(expr.value, fn)
        if isinstance(expr, ast.IfExp):
            return self.events_of(expr.body, fn) | self.events_of(expr.orelse, fn)
        if isinstance(expr, ast.Name):
            return set().union(*[self.events_of(v, fn) for v in bindings(fn, expr.id)])
        return set()

    def writes(self) -> Iterator[tuple[str, set[str], set[str] | None]]:
        """Each writer's site, events, and fields (None: a splat that cannot be followed)."""
        for path, mod in self.parsed:
            for call in ast.walk(mod):
                if not (isinstance(call, ast.Call) and call.args
                        and call_name(call) in WRITERS):
                    continue
                fn = self.fn[call]
                names = self.events_of(call.args[0], fn)
                if not names:  # a forwarder, or no event's (`test_every_writer_names_..`)
                    continue
                splats = [k.value for k in call.keywords if k.arg is None] + call.args[1:]
                fields: set[str] | None = {k.arg for k in call.keywords if k.arg}
                for s in splats:
                    more = self.keys(s, fn)
                    fields = None if fields is None or more is None else fields | more
                yield f"{path.relative_to(ROOT)}:{call.lineno}", names, fields


def argument(call: ast.Call, name: str, place: int) -> ast.expr | None:
    """What `call` passes for the parameter `name`, at `place` among the positional ones."""
    for k in call.keywords:
        if k.arg == name:
            return k.value
    before = call.args[:place + 1]
    if any(isinstance(a, ast.Starred) for a in before) or place >= len(call.args):
        return None
    return call.args[place]


def bindings(fn: Fn, name: str) -> list[ast.expr]:
    """The values assigned to `name` in `fn`."""
    out: list[ast.expr] = []
    for n in ast.walk(fn):
        if isinstance(n, ast.Assign):
            out += [n.value for t in n.targets if isinstance(t, ast.Name) and t.id == name]
        elif isinstance(n, ast.AnnAssign | ast.NamedExpr) and n.value is not None \
                and isinstance(n.target, ast.Name) and n.target.id == name:
            out.append(n.value)
    return out


def numeric(expr: ast.expr, fn: Fn) -> bool:
    """A number: a constant, arithmetic, a parameter so annotated or a name bound to one."""
    if isinstance(expr, ast.Constant | ast.BinOp):
        return not isinstance(expr, ast.Constant) or isinstance(expr.value, int | float)
    if isinstance(expr, ast.Call):
        return call_name(expr) in ("int", "float")
    if not isinstance(expr, ast.Name):
        return False
    params = {a.arg: a.annotation for a in fn.args.args} if isinstance(fn, FUNCS) else {}
    if expr.id in params:
        return ast.unparse(params[expr.id] or ast.Name("?")) in ("int", "float")
    values = bindings(fn, expr.id)
    return bool(values) and all(numeric(v, fn) for v in values)


def is_forwarder(call: ast.Call, fn: Fn) -> bool:
    """A writer method passing its own event and fields on (`MeshNode.record`)."""
    if not isinstance(fn, ast.FunctionDef) or fn.name not in WRITERS or fn.args.kwarg is None:
        return False
    own = isinstance(call.args[0], ast.Name) and call.args[0].id in [a.arg for a in fn.args.args]
    return own and [ast.unparse(k.value) for k in call.keywords] == [fn.args.kwarg.arg]


@functools.cache
def code() -> Code:
    return Code()


def owner_of(read: ast.expr) -> ast.expr | None:
    """What ``x["k"]`` or ``x.get("k")`` reads from: x."""
    if isinstance(read, ast.Subscript):
        return read.value
    return read.func.value if isinstance(read, ast.Call) \
        and isinstance(read.func, ast.Attribute) else None


Env = dict[Any, frozenset[str]]  # a row's name -> its events; ("list", name) -> a list's


class Reads:
    """The constant keys one function of a reader reads from rows, with each row's events."""

    def __init__(self, fn: ast.FunctionDef) -> None:
        # names whose "event" the function reads: rows of some event
        self.loose = {r.id for n in ast.walk(fn) if is_event_field(n)
                      and isinstance(r := owner_of(n), ast.Name)}
        self.found: set[tuple[int, str, frozenset[str]]] = set()
        self.held: dict[str, frozenset[str]] = {}  # a dict or list of rows -> their events
        self.block(fn.body, {})

    def hold(self, name: ast.expr, row: ast.expr, env: Env) -> None:
        """`name` (a dict or list) takes the row `row` (``d[k] = e``, ``.append(e)`` ..)."""
        if isinstance(name, ast.Name) and (evs := self.row(row, env)) is not None:
            self.held[name.id] = self.held.get(name.id, frozenset()) | evs

    def row(self, expr: ast.expr, env: Env) -> frozenset[str] | None:
        """The events a row expression may be; None: not a row."""
        if isinstance(expr, ast.Name):
            return env.get(expr.id, ANY if expr.id in self.loose else None)
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name) \
                and key(expr.slice) is None:
            return env.get(("list", expr.value.id), self.held.get(expr.value.id))
        if isinstance(expr, ast.Call) and call_name(expr) == "next" and expr.args:
            return self.rows(expr.args[0], env)
        if isinstance(expr, ast.Call) and call_name(expr) == "get" and expr.args \
                and isinstance(expr.func, ast.Attribute) and isinstance(expr.func.value, ast.Name)\
                and key(expr.args[0]) is None:
            return self.held.get(expr.func.value.id)
        if isinstance(expr, ast.BoolOp) and isinstance(expr.op, ast.Or):
            return self.row(expr.values[0], env)
        return None

    def rows(self, expr: ast.expr, env: Env) -> frozenset[str] | None:
        """The events of the rows iterating `expr` yields; None: not rows."""
        if isinstance(expr, ast.Call) and call_name(expr) == "of":
            return frozenset(e for a in expr.args for e in declared(a)) or None
        if isinstance(expr, ast.Call) and call_name(expr) in ("sorted", "list", "reversed") \
                and expr.args:
            return self.rows(expr.args[0], env)
        if isinstance(expr, ast.Name):
            return env.get(("list", expr.id), self.held.get(expr.id))
        if isinstance(expr, ast.Call) and call_name(expr) == "values" \
                and isinstance(expr.func, ast.Attribute) and isinstance(expr.func.value, ast.Name):
            return self.held.get(expr.func.value.id)
        if isinstance(expr, ast.ListComp | ast.GeneratorExp):
            return self.row(expr.elt, self.comp(expr, env))
        return None

    def bind_iter(self, target: ast.expr, it: ast.expr, env: Env) -> None:
        """Bind a loop's target to what iterating `it` yields (``d.items()``: its values)."""
        while isinstance(it, ast.Call) and call_name(it) in ("sorted", "list") and it.args:
            it = it.args[0]
        if isinstance(target, ast.Tuple) and len(target.elts) == 2 \
                and isinstance(it, ast.Call) and call_name(it) == "items" \
                and isinstance(it.func, ast.Attribute) and isinstance(it.func.value, ast.Name):
            self.bind(target.elts[0], None, env)
            self.bind(target.elts[1], self.held.get(it.func.value.id), env)
        else:
            self.bind(target, self.rows(it, env), env)

    def bind(self, target: ast.expr, evs: frozenset[str] | None, env: Env) -> None:
        if isinstance(target, ast.Name):
            env.pop(("list", target.id), None)
            if evs is None and target.id not in self.loose:
                env.pop(target.id, None)
            else:
                env[target.id] = ANY if evs is None else evs
        for t in target.elts if isinstance(target, ast.Tuple | ast.List) else ():
            self.bind(t, None, env)

    def narrow(self, test: ast.expr, env: Env) -> tuple[Env, Env]:
        """The rows as the test's true and false branches see them."""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            yes = env
            for v in test.values:
                yes = self.narrow(v, yes)[0]
            return yes, env
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1
                and is_event_field(test.left) and isinstance(test.left, ast.Subscript)
                and isinstance(test.left.value, ast.Name)):
            return env, env
        name, op = test.left.value.id, test.ops[0]
        named = frozenset(declared(test.comparators[0]))
        if not named:
            return env, env
        was = self.row(test.left.value, env)
        narrowed = {**env, name: (ANY if was is None else was) & named}
        return (narrowed, env) if isinstance(op, ast.Eq | ast.In) else (env, narrowed)

    def block(self, stmts: list[ast.stmt], env: Env) -> None:
        env = dict(env)
        for s in stmts:
            if isinstance(s, ast.For | ast.AsyncFor):
                self.expr(s.iter, env)
                inner = dict(env)
                self.bind_iter(s.target, s.iter, inner)
                self.block(s.body, inner)
                self.block(s.orelse, env)
            elif isinstance(s, ast.If):
                self.expr(s.test, env)
                yes, no = self.narrow(s.test, env)
                self.block(s.body, yes)
                self.block(s.orelse, no)
                if isinstance(s.body[-1], ast.Continue | ast.Return | ast.Raise | ast.Break):
                    env.update(no)  # the rest of the block runs only when the test fails
            elif isinstance(s, ast.Assign | ast.AnnAssign) and s.value is not None:
                self.expr(s.value, env)
                targets = s.targets if isinstance(s, ast.Assign) else [s.target]
                for t in targets:
                    if isinstance(t, ast.Subscript):
                        self.hold(t.value, s.value, env)
                    elif isinstance(t, ast.Name) and (many := self.rows(s.value, env)):
                        env.pop(t.id, None)
                        env[("list", t.id)] = many
                    else:
                        self.bind(t, self.row(s.value, env), env)
            else:
                self.generic(s, env)

    def generic(self, node: ast.AST, env: Env) -> None:
        for _, value in ast.iter_fields(node):
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, ast.ExceptHandler):
                    self.block(v.body, env)
                elif isinstance(v, ast.stmt):
                    self.block([v], env)
                elif isinstance(v, ast.AST):
                    self.expr(v, env)

    def comp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
             env: Env) -> Env:
        env = dict(env)
        for g in node.generators:
            self.expr(g.iter, env)
            self.bind_iter(g.target, g.iter, env)
            for cond in g.ifs:
                self.expr(cond, env)
                env = self.narrow(cond, env)[0]
        return env

    def expr(self, node: ast.AST, env: Env) -> None:
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            inner = self.comp(node, env)
            for part in [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]:
                self.expr(part, inner)
            return
        if isinstance(node, ast.IfExp):
            self.expr(node.test, env)
            yes, no = self.narrow(node.test, env)
            self.expr(node.body, yes)
            self.expr(node.orelse, no)
            return
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            for v in node.values:
                self.expr(v, env)
                env = self.narrow(v, env)[0]
            return
        if isinstance(node, ast.Subscript) and (k := key(node.slice)) \
                and (evs := self.row(node.value, env)) is not None:
            self.found.add((node.lineno, k, evs))
        if isinstance(node, ast.Call) and call_name(node) in ("append", "setdefault") \
                and isinstance(node.func, ast.Attribute) and node.args:
            self.hold(node.func.value, node.args[-1], env)
        if isinstance(node, ast.Call) and call_name(node) == "get" and node.args \
                and isinstance(node.func, ast.Attribute) and (k := key(node.args[0])) \
                and (evs := self.row(node.func.value, env)) is not None:
            self.found.add((node.lineno, k, evs))
        self.generic(node, env)


def reads() -> list[tuple[str, str, frozenset[str]]]:
    """Every constant key the readers read from a row: (site, key, the row's events)."""
    out = []
    for path, mod in code().parsed:
        if path.relative_to(ROOT).parts[0] in READERS:
            out += [(f"{path.relative_to(ROOT)}:{line}", k, evs)
                    for fn in ast.walk(mod) if isinstance(fn, ast.FunctionDef)
                    and isinstance(code().fn[fn], ast.Module)
                    for line, k, evs in sorted(Reads(fn).found, key=str)]
    return out


# -- the tests ------------------------------------------------------------------------------
def test_no_event_name_is_spelled_outside_the_catalogue() -> None:
    spelled = [f"{path.relative_to(ROOT)}:{place.lineno}: {name!r}"
               for path, tree in modules() for place in event_places(tree)
               for name in constants(place)]
    assert spelled == []


def test_every_constant_an_event_place_uses_is_declared() -> None:
    used = {ref for _, tree in modules() for place in event_places(tree)
            for ref in catalogue_refs(place)}
    assert len(used) > 60
    assert sorted(r for r in used if getattr(events, r, None) not in CATALOGUE) == []


def test_every_declared_event_is_written_and_nothing_else_is_declared() -> None:
    written = {name for _, names, _ in code().writes() for name in names}
    assert sorted(set(CATALOGUE) - written) == []


def test_every_writer_names_its_event_or_forwards_one() -> None:
    """A writer call naming no event passes its own method's event and fields on (a forwarder,
    whose callers are checked), or logs no event at all: its first argument is a number
    (`math.log`, an LLM call's `_record` of its token counts)."""
    c = code()
    unnamed = [(path, call) for path, mod in c.parsed for call in ast.walk(mod)
               if isinstance(call, ast.Call) and call.args and call_name(call) in WRITERS
               and not c.events_of(call.args[0], c.fn[call])]
    assert any(is_forwarder(call, c.fn[call]) for _, call in unnamed)  # MeshNode.record ..
    assert [f"{p.relative_to(ROOT)}:{call.lineno}" for p, call in unnamed
            if not is_forwarder(call, c.fn[call]) and not numeric(call.args[0], c.fn[call])] == []


def test_every_field_a_writer_logs_is_declared() -> None:
    sites = list(code().writes())
    assert len(sites) > 80
    assert [where for where, _, fields in sites if fields is None] == []  # followed, all
    assert [f"{where}: {name}: {sorted(fields - set(CATALOGUE[name].fields))}"
            for where, names, fields in sites if fields is not None
            for name in sorted(names) if fields - set(CATALOGUE[name].fields)] == []


def test_every_declared_field_is_written() -> None:
    written: dict[str, set[str]] = defaultdict(set)
    for _, names, fields in code().writes():
        for name in names:
            written[name] |= fields or set()
    assert {name: sorted(set(e.fields) - written[name]) for name, e in CATALOGUE.items()
            if set(e.fields) - written[name]} == {}


def test_every_field_a_reader_reads_is_declared() -> None:
    found = reads()
    narrowed = [r for r in found if r[2] != ANY]
    assert len(narrowed) > 80 and len(found) - len(narrowed) > 10
    assert [f"{where}: {k!r} of {sorted(evs) if evs != ANY else 'any event'}"
            for where, k, evs in found
            if k not in IMPLICIT and not any(k in CATALOGUE[e].fields for e in evs)] == []


def test_every_event_the_checkers_read_by_name_is_kept_by_the_history() -> None:
    from fsr.metrics.history import KEPT

    read = {getattr(events, ref) for path, tree in modules()
            if path.parent.name in ("metrics", "report")
            for node in ast.walk(tree) if isinstance(node, ast.Call)
            and call_name(node) == "of" for arg in node.args for ref in catalogue_refs(arg)}
    assert {"peer_lost", "handshake_done"} <= read
    assert sorted(read - KEPT) == []


def test_an_event_is_its_name_with_its_fields() -> None:
    import pickle

    import orjson

    assert events.HOP_SENT == "hop_sent" and isinstance(events.HOP_SENT, str)
    assert CATALOGUE["hop_sent"] is events.HOP_SENT
    assert events.HOP_SENT.fields[:3] == ("dst", "kind", "mid")
    assert "relay (a relay's leg)" in events.HOP_SENT.doc
    assert events.FRAME_DROPPED.doc == "src, reason, wire | kind, mid"
    assert orjson.dumps({"event": events.KILL}) == b'{"event":"kill"}'
    back = pickle.loads(pickle.dumps(events.KILL))
    assert (back, back.fields, back.doc) == (events.KILL, events.KILL.fields, events.KILL.doc)
    for bad in [("hop_sent", "dst"), ("x_new", "dst dst"), ("x_new", "ts"), ("x_new", "Dst")]:
        with pytest.raises(ValueError):
            events.event(*bad)
    with pytest.raises(ValueError):
        events.event("x_new", "dst", dts="a note on no field")
    assert "x_new" not in CATALOGUE
