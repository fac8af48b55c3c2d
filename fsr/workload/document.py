"""The document data model and the loader for documents and QA files.

A `Document` is a list of fragments (paragraphs with stable ids) plus gold question/answer pairs
whose supporting fragments are known. `load_document` reads the bundled default, our own JSON
format (`Document.to_json`), or a user's QA file in JSONL: either the multi-hop shard format
`{"group_id", "question", "content", "answer"}` or plain `{"question", "answer", "context"}`.
Every problem is a `DocumentError` whose message is one line: file, line number, problem.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fsr.workload.grading import answer_found

DEFAULT_DOCUMENT = "gaia_default.json"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


class DocumentError(ValueError):
    """A document or QA file that cannot be used; str() is one line naming file and line."""


@dataclass(frozen=True)
class Fragment:
    fid: str
    text: str


@dataclass(frozen=True)
class QA:
    qid: str
    question: str
    answer: str
    fids: tuple[str, ...]  # the fragments that support the answer


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    fragments: tuple[Fragment, ...]
    qa: tuple[QA, ...]
    notes: tuple[str, ...] = ()  # what the loader could not establish (never sent on the wire)

    def texts(self) -> dict[str, str]:
        """fid -> fragment text, in document order."""
        return {f.fid: f.text for f in self.fragments}

    def to_json(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "fragments": [{"fid": f.fid, "text": f.text} for f in self.fragments],
            "qa": [
                {"qid": q.qid, "question": q.question, "answer": q.answer, "fids": list(q.fids)}
                for q in self.qa
            ],
        }

    @classmethod
    def from_json(cls, d: dict) -> Document:
        """Inverse of `to_json`; checks keys, unique ids and that QA fids exist."""
        if not isinstance(d, dict):
            raise DocumentError("the top level must be an object")
        frags = tuple(
            Fragment(str(_key(f, "fid")), str(_key(f, "text"))) for f in _list(d, "fragments")
        )
        qa = tuple(
            QA(
                qid=str(_key(q, "qid")),
                question=str(_key(q, "question")),
                answer=str(_key(q, "answer")),
                fids=tuple(str(x) for x in _list(q, "fids")),
            )
            for q in _list(d, "qa")
        )
        known = {f.fid for f in frags}
        if len(known) != len(frags):
            raise DocumentError("duplicate fragment fid")
        if len({q.qid for q in qa}) != len(qa):
            raise DocumentError("duplicate qa qid")
        for q in qa:
            missing = [x for x in q.fids if x not in known]
            if missing:
                raise DocumentError(f"qa {q.qid} cites unknown fragment {missing[0]}")
        if not frags:
            raise DocumentError("the document has no fragments")
        return cls(str(_key(d, "doc_id")), str(d.get("title", "")), frags, qa)


def _key(d: Any, key: str) -> Any:
    if not isinstance(d, dict):
        raise DocumentError(f"expected an object with key '{key}', got {type(d).__name__}")
    if key not in d:
        raise DocumentError(f"missing key '{key}'")
    return d[key]


def _list(d: Any, key: str) -> list:
    value = _key(d, key)
    if not isinstance(value, list):
        raise DocumentError(f"'{key}' must be a list")
    return value


def load_document(path: str | None) -> Document:
    """The bundled default (None), a document JSON, or a QA JSONL file."""
    if path is None:
        return _load_default()
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if p.suffix == ".json":
        return _parse_json(raw, str(p))
    if p.suffix == ".jsonl":
        return _parse_jsonl(raw, p)
    raise DocumentError(f"{p}: unknown document type (want .json or .jsonl)")


def _load_default() -> Document:
    try:
        raw = (resources.files("fsr") / "data" / DEFAULT_DOCUMENT).read_text(encoding="utf-8")
    except (NotADirectoryError, ModuleNotFoundError, FileNotFoundError):
        # An editable install of a namespace package `fsr` makes importlib.resources fail
        # (MultiplexedPath over a non-directory path hook); the file sits next to this package.
        raw = (Path(__file__).resolve().parent.parent / "data" / DEFAULT_DOCUMENT).read_text(
            encoding="utf-8"
        )
    return _parse_json(raw, f"<bundled {DEFAULT_DOCUMENT}>")


def _parse_json(raw: str, name: str) -> Document:
    if not raw.strip():
        raise DocumentError(f"{name}:1: empty file")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{name}:{exc.lineno}: bad JSON: {exc.msg}") from exc
    try:
        return Document.from_json(data)
    except DocumentError as exc:
        raise DocumentError(f"{name}: {exc}") from exc


def _parse_jsonl(raw: str, p: Path) -> Document:
    """One QA per line; passages become fragments, split into paragraphs on blank lines; a
    question's support is looked for across its whole group."""
    frag_of_para: dict[str, str] = {}  # paragraph text -> fid (distinct paragraphs only)
    group_fids: dict[str, list[str]] = {}  # group (or lone line) -> its fragments, in order
    rows: list[tuple[str, QA]] = []
    group_content: dict[str, str] = {}
    group_count: dict[str, int] = {}
    qa: list[QA] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{where}: bad JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise DocumentError(f"{where}: expected a JSON object")
        for key in ("question", "answer"):
            if key not in row:
                raise DocumentError(f"{where}: missing key '{key}'")
        group = row.get("group_id")
        group = None if group is None else str(group)
        content = row.get("content", row.get("context"))
        if content is None and group in group_content:
            # Later questions of a group may omit the passage they share with the first.
            content = group_content[group]
        if not isinstance(content, str) or not content.strip():
            raise DocumentError(f"{where}: missing key 'content' (or 'context')")
        if group is not None:
            group_content.setdefault(group, content)
        answer = _answer_text(row["answer"], where)
        fids = [frag_of_para.setdefault(para, f"f{len(frag_of_para) + 1:04d}")
                for para in _paragraphs(content)]
        key = group if group is not None else f"\0line{lineno}"  # no group: the line alone
        group_fids.setdefault(key, []).extend(f for f in fids if f not in group_fids[key])
        if group is None:
            qid = f"q{len(rows) + 1:04d}"
        else:
            group_count[group] = group_count.get(group, 0) + 1
            qid = f"{group}#{group_count[group]}"
        rows.append((key, QA(qid, str(row["question"]).strip(), answer, ())))
    # Supporting fragments: the paragraphs of the question's group (in the multi-hop shard
    # format a group's supporting facts sit in its *other* lines) whose text contains the
    # answer on word boundaries. None such (a yes/no answer, a paraphrase): unknown — left
    # empty and said, never guessed.
    text_of = {fid: para for para, fid in frag_of_para.items()}
    for key, q in rows:
        support = tuple(f for f in group_fids[key] if answer_found(q.answer, [text_of[f]]))
        qa.append(QA(q.qid, q.question, q.answer, support))
    unknown = sum(not q.fids for q in qa)
    if not qa:
        raise DocumentError(f"{p}:1: empty file (no QA lines)")
    if len({q.qid for q in qa}) != len(qa):
        raise DocumentError(f"{p}: duplicate question ids (group_id values clash)")
    fragments = tuple(Fragment(fid, para) for para, fid in frag_of_para.items())
    notes = (f"{p.name}: supporting fragments unknown for {unknown} of {len(qa)} questions "
             f"(no paragraph of the group contains the answer)",) if unknown else ()
    return Document(doc_id=p.stem, title=p.name, fragments=fragments, qa=tuple(qa),
                    notes=notes)


def _paragraphs(content: str) -> list[str]:
    paras = [" ".join(part.split()) for part in _PARAGRAPH_BREAK.split(content)]
    return [para for para in paras if para]


def _answer_text(value: Any, where: str) -> str:
    # Some QA sets store a list of acceptable answers; the first one is the gold answer.
    if isinstance(value, list) and value:
        value = value[0]
    if (
        isinstance(value, bool)
        or not isinstance(value, str | int | float)
        or not str(value).strip()
    ):
        raise DocumentError(f"{where}: 'answer' must be a non-empty string")
    return str(value).strip()
