"""The seeded Gaia document generator and the bundled default document."""

import json
from pathlib import Path

from fsr.agents.tools.offline import parse_triple, split_sentences
from fsr.workload import DEFAULT_SEED, generate_document, load_document, write_document
from fsr.workload.generate import RELATIONS
from fsr.workload.tokens import tokenize


def test_same_seed_same_document_different_seed_different() -> None:
    a = generate_document(7, 20)
    assert a.to_json() == generate_document(7, 20).to_json()
    assert a.to_json() != generate_document(8, 20).to_json()


def test_shape_and_gold_answers_live_in_their_fragment() -> None:
    doc = generate_document(11, 30)
    assert len(doc.fragments) == 30
    assert len({f.fid for f in doc.fragments}) == 30
    texts = doc.texts()
    for frag in doc.fragments:
        n_sentences = frag.text.count(". ") + 1
        assert 3 <= n_sentences <= 5
    for qa in doc.qa:
        assert len(qa.fids) == 1
        assert qa.answer in texts[qa.fids[0]]
    assert len({q.qid for q in doc.qa}) == len(doc.qa)


def test_every_sentence_is_a_template_fact_about_its_unique_entity() -> None:
    doc = generate_document(3, 60)
    subjects, used = [], set()
    for frag in doc.fragments:
        triples = [parse_triple(s) for s in split_sentences(frag.text)]
        assert all(t is not None for t in triples), frag.text
        assert len({t[0] for t in triples}) == 1  # one entity per paragraph
        subjects.append(triples[0][0])
        used |= {t[1] for t in triples}
    assert used == {rel.name for rel in RELATIONS}
    # The invented name (first word) is a search term no other entity shares.
    stems = [tokenize(s.split()[0])[0] for s in subjects]
    assert len(stems) == len(set(stems))


def test_questions_never_contain_their_answer() -> None:
    for qa in generate_document(DEFAULT_SEED).qa:
        assert qa.answer.lower() not in qa.question.lower()


def test_bundled_default_is_the_seeded_document() -> None:
    bundled = load_document(None)
    assert bundled.to_json() == generate_document(DEFAULT_SEED, 60).to_json()
    assert 150 <= len(bundled.qa) <= 260


def test_write_document_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    doc = write_document(path, seed=5, n_entities=12)
    assert json.loads(path.read_text()) == doc.to_json()
    assert load_document(str(path)) == doc
