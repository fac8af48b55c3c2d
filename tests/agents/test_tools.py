"""BM25 search with global statistics, the offline stages and the in-process pipeline."""

import pytest

from fsr.agents.tools import (
    CorpusStats,
    OfflineBackend,
    ShardIndex,
    StageBackend,
    make_backend,
    merge_hits,
)
from fsr.agents.tools.offline import question_relation
from fsr.config.schema import Model
from fsr.workload import Document, assign_shards, load_document
from fsr.workload.grading import exact_match
from fsr.workload.tokens import tokenize

CORPUS = {
    "f1": "The Aldoran Observatory was founded by Mira Kessel.",
    "f2": "The Velmori Guild has 412 members. The Velmori Guild is located in Tarvenholm.",
    "f3": "The Brask Library specializes in tidal cartography.",
    "f4": "The Aldoran Observatory is located in Pellamar.",
}


def _pipeline(backend: StageBackend, question: str, passages: list[str]) -> str:
    sentence = backend.extract(question, passages).output["sentence"]
    triple = backend.triple(question, sentence).output["triple"]
    return backend.reason(question, sentence, triple).output["answer"]


def test_tokenize_lowercases_drops_stopwords_and_stems() -> None:
    assert tokenize("What does the Brask Library specialize in?") == [
        "brask",
        "library",
        "specializ",
    ]
    assert tokenize("specializes specialized") == ["specializ", "specializ"]
    assert tokenize("It has 412 members!") == ["412", "member"]


def test_corpus_stats() -> None:
    stats = CorpusStats.build(CORPUS.values())
    assert stats.n_docs == 4
    assert stats.doc_freq["aldoran"] == 2 and stats.doc_freq["velmori"] == 1
    assert stats.idf("velmori") > stats.idf("aldoran") > 0
    assert stats.avg_len == pytest.approx(sum(len(tokenize(t)) for t in CORPUS.values()) / 4)


def test_lookup_ranks_filters_and_breaks_ties_by_fid() -> None:
    index = ShardIndex(CORPUS, CorpusStats.build(CORPUS.values()))
    hits = index.lookup("Who founded the Aldoran Observatory?", None, 3)
    assert [h["fid"] for h in hits] == ["f1", "f4"]  # f2, f3 share no term: not hits
    assert hits[0]["text"] == CORPUS["f1"] and hits[0]["score"] > hits[1]["score"]
    assert [h["fid"] for h in index.lookup("Aldoran", ["f4", "f9"], 3)] == ["f4"]
    assert index.lookup("Aldoran", None, 1)[0]["fid"] == "f4"  # same tf, shorter fragment
    assert index.lookup("zzz", None, 3) == []
    twin = ShardIndex({"b": "same text", "a": "same text"}, CorpusStats.build(["same text"] * 2))
    assert [h["fid"] for h in twin.lookup("same", None, 2)] == ["a", "b"]


def test_global_stats_make_scores_from_different_shards_comparable() -> None:
    stats = CorpusStats.build(CORPUS.values())
    full = ShardIndex(CORPUS, stats)
    left = ShardIndex({k: CORPUS[k] for k in ("f1", "f2")}, stats)
    right = ShardIndex({k: CORPUS[k] for k in ("f2", "f3", "f4")}, stats)
    query = "Where is the Aldoran Observatory located?"
    merged = merge_hits([right.lookup(query, None, 3), left.lookup(query, None, 3)], 3)
    assert merged == full.lookup(query, None, 3)
    assert len({h["fid"] for h in merged}) == len(merged)


def test_merge_hits_dedupes_keeps_best_and_is_order_independent() -> None:
    a = [{"fid": "x", "score": 2.0, "text": "X"}, {"fid": "y", "score": 1.0, "text": "Y"}]
    b = [{"fid": "y", "score": 3.0, "text": "Y"}, {"fid": "z", "score": 2.0, "text": "Z"}]
    assert [h["fid"] for h in merge_hits([a, b], 5)] == ["y", "x", "z"]
    assert merge_hits([a, b], 2) == merge_hits([b, a], 2)
    assert merge_hits([], 3) == []


def test_offline_stages() -> None:
    backend = OfflineBackend()
    assert backend.blocking is False
    q = "Where is the Velmori Guild located?"
    sentence = backend.extract(q, [CORPUS["f1"], CORPUS["f2"]]).output["sentence"]
    assert sentence == "The Velmori Guild is located in Tarvenholm."
    triple = backend.triple(q, sentence).output["triple"]
    assert triple == ["Velmori Guild", "located_in", "Tarvenholm"]
    result = backend.reason(q, sentence, triple)
    assert result.output == {"answer": "Tarvenholm"} and result.llm_calls == []
    assert backend.triple(q, "Nothing here matches.").output["triple"] is None
    assert backend.extract(q, []).output["sentence"] == ""
    assert backend.reason(q, "", None).output["answer"] == ""


@pytest.mark.parametrize(
    ("question", "relation"),
    [
        ("Who founded the X Guild?", "founded_by"),
        ("Who is the director of the X Guild?", "director"),
        ("Who was the X Guild named after?", "named_after"),
        ("Which house funds the X Guild?", "funded_by"),
        ("In which city is the X Guild located?", "located_in"),
        ("When was the X Guild established?", "established_in"),
        ("How many members does the X Guild have?", "members"),
        ("How many volumes does the X Guild keep?", "volumes"),
        ("What field does the X Guild specialize in?", "specializes_in"),
        ("What is the emblem of the X Guild?", "emblem"),
        ("Tell me about it", None),
    ],
)
def test_question_relation(question: str, relation: str | None) -> None:
    assert question_relation(question) == relation


def test_reason_falls_back_to_a_span_for_user_text() -> None:
    backend = OfflineBackend()
    answer = _pipeline(
        backend,
        "Who painted the Night Watch?",
        ["Many works hang in Amsterdam. The Night Watch was painted by Rembrandt van Rijn."],
    )
    assert answer == "Rembrandt van Rijn"
    year = _pipeline(backend, "When did the dam open?", ["The dam opened to traffic in 1932."])
    assert year == "1932"


def test_reason_ignores_a_triple_of_the_wrong_relation() -> None:
    sentence = "The Velmori Guild has 412 members."
    triple = ["Velmori Guild", "members", "412"]
    answer = OfflineBackend().reason("Who founded the Velmori Guild?", sentence, triple)
    assert answer.output["answer"] != "412"


def test_make_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from fsr.agents.tools.llm import OpenAIBackend

    assert isinstance(make_backend(Model(type="offline")), OfflineBackend)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = make_backend(Model(type="openai", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(backend, OpenAIBackend) and backend.blocking


def _accuracy(doc: Document, search) -> float:  # type: ignore[no-untyped-def]
    backend = OfflineBackend()
    right = 0
    for qa in doc.qa:
        passages = [h["text"] for h in search(qa.question)]
        right += exact_match(_pipeline(backend, qa.question, passages), qa.answer)
    return right / len(doc.qa)


def test_pipeline_on_the_default_document_full_corpus() -> None:
    doc = load_document(None)
    texts = doc.texts()
    index = ShardIndex(texts, CorpusStats.build(texts.values()))
    assert _accuracy(doc, lambda q: index.lookup(q, None, 3)) >= 0.97


def test_pipeline_on_the_default_document_sharded_and_merged() -> None:
    doc = load_document(None)
    texts = doc.texts()
    stats = CorpusStats.build(texts.values())
    shards = assign_shards(list(texts), ["a0", "a1", "a2", "a3"], 2)
    indexes = [ShardIndex({f: texts[f] for f in fids}, stats) for fids in shards.values()]

    def search(q: str) -> list[dict]:
        return merge_hits([ix.lookup(q, None, 3) for ix in indexes], 3)

    assert _accuracy(doc, search) >= 0.97
