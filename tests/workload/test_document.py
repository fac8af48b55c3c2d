"""The document model and the loader for .json documents and .jsonl QA files."""

import json
from pathlib import Path

import pytest

from fsr.workload import QA, Document, DocumentError, Fragment, load_document

PASSAGE_A = "The Aldoran Observatory was founded by Mira Kessel.\n\nIt stands in Tarvenholm."
PASSAGE_B = "The Velmori Guild has 412 members."


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_to_json_from_json_round_trip() -> None:
    doc = Document(
        "d1", "T", (Fragment("f1", "x"), Fragment("f2", "y")), (QA("q1", "Q?", "x", ("f1",)),)
    )
    data = json.loads(json.dumps(doc.to_json()))
    assert Document.from_json(data) == doc
    assert doc.texts() == {"f1": "x", "f2": "y"}


def test_shard_format_jsonl(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "shard.jsonl",
        [
            {
                "group_id": "g1",
                "question": "Who founded it?",
                "content": PASSAGE_A,
                "answer": "Mira Kessel",
            },
            {
                "group_id": "g1",
                "question": "Where does it stand?",
                "content": PASSAGE_A,
                "answer": "Tarvenholm",
            },
            "",
            {
                "group_id": "g2",
                "question": "How many members?",
                "content": PASSAGE_B,
                "answer": 412,
            },
        ],
    )
    doc = load_document(str(path))
    # Distinct contents become fragments, one per paragraph, with stable ids.
    assert [(f.fid, f.text) for f in doc.fragments] == [
        ("f0001", "The Aldoran Observatory was founded by Mira Kessel."),
        ("f0002", "It stands in Tarvenholm."),
        ("f0003", PASSAGE_B),
    ]
    assert [q.qid for q in doc.qa] == ["g1#1", "g1#2", "g2#1"]
    assert [q.fids for q in doc.qa] == [("f0001",), ("f0002",), ("f0003",)]
    assert doc.qa[2].answer == "412"
    assert doc.doc_id == "shard"
    assert load_document(str(path)) == doc  # deterministic


def test_group_lines_may_omit_the_shared_content(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "g.jsonl",
        [
            {"group_id": 7, "question": "Who?", "content": PASSAGE_A, "answer": "Mira Kessel"},
            {"group_id": 7, "question": "Where?", "answer": "Tarvenholm"},
        ],
    )
    doc = load_document(str(path))
    assert len(doc.fragments) == 2 and doc.qa[1].fids == ("f0002",)


def test_plain_context_jsonl_and_answer_not_in_text(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "plain.jsonl",
        [
            {"question": "Who founded it?", "context": PASSAGE_A, "answer": ["Mira Kessel"]},
            {"question": "Is it old?", "context": PASSAGE_A, "answer": "yes"},
        ],
    )
    doc = load_document(str(path))
    assert [q.qid for q in doc.qa] == ["q0001", "q0002"]
    assert doc.qa[0].answer == "Mira Kessel"
    # no paragraph holds "yes": the support is unknown, said so, and not invented
    assert doc.qa[1].fids == ()
    assert doc.notes and "unknown for 1 of 2" in doc.notes[0]


def test_shard_format_support_is_found_in_the_groups_other_lines(tmp_path: Path) -> None:
    # The multi-hop shard format: a line's own content need not support its question.
    path = _write_jsonl(tmp_path / "shards.jsonl", [
        {"group_id": "g1", "question": "Where was the founder of Orvane Labs born?",
         "content": "Orvane Labs was founded by Ilse Brandt in 1998.", "answer": "Tallinn"},
        {"group_id": "g1", "question": "Who founded Orvane Labs?",
         "content": "Ilse Brandt was born in Tallinn and studied physics.",
         "answer": "Ilse Brandt"},
    ])
    doc = load_document(str(path))
    texts = {f.fid: f.text for f in doc.fragments}
    born, founded = doc.qa
    assert [texts[f] for f in born.fids] == ["Ilse Brandt was born in Tallinn and studied physics."]
    assert len(founded.fids) == 2  # the name is in both lines
    assert doc.notes == ()


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            ['{"question": "Q?", "content": "c", "answer": "a"}', "{not json"],
            r"bad\.jsonl:2: bad JSON",
        ),
        ([{"question": "Q?", "content": "c"}], r"bad\.jsonl:1: missing key 'answer'"),
        ([{"question": "Q?", "answer": "a"}], r"bad\.jsonl:1: missing key 'content'"),
        ([{"question": "Q?", "content": "c", "answer": ""}], r"bad\.jsonl:1: 'answer'"),
        (["[1, 2]"], r"bad\.jsonl:1: expected a JSON object"),
        (["", "  "], r"bad\.jsonl:1: empty file"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, rows: list, expected: str) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DocumentError, match=expected) as info:
        load_document(str(path))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"doc\.json:1: empty file"),
        ('{\n "doc_id": "x",\n oops}', r"doc\.json:3: bad JSON"),
        ('{"doc_id": "x", "qa": []}', r"doc\.json: missing key 'fragments'"),
        (
            '{"doc_id": "x", "fragments": [{"fid": "f1", "text": "t"}], '
            '"qa": [{"qid": "q", "question": "?", "answer": "a", "fids": ["f9"]}]}',
            r"doc\.json: qa q cites unknown fragment f9",
        ),
    ],
)
def test_json_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "doc.json"
    path.write_text(text)
    with pytest.raises(DocumentError, match=expected):
        load_document(str(path))


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read"):
        load_document(str(tmp_path / "nope.json"))
    other = tmp_path / "doc.txt"
    other.write_text("hello")
    with pytest.raises(DocumentError, match="unknown document type"):
        load_document(str(other))


def test_document_error_is_a_value_error() -> None:
    assert issubclass(DocumentError, ValueError)
