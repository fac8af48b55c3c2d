"""The offline stage backend: deterministic rules, no network, no randomness.

extract: the sentence of the passages with the largest question-token overlap (first wins ties).
triple:  the sentence parsed against the generator's fact templates into (subject, relation,
         object); None for sentences no template matches (e.g. a user's own document).
reason:  the question mapped to a relation by its wh-word and cue words; when the triple has
         that relation its object is the answer, otherwise the answer is the best span of the
         sentence that the question does not already contain (so user documents get an answer).
"""

from __future__ import annotations

import re

from fsr.agents.tools.base import ToolResult
from fsr.workload.generate import RELATIONS
from fsr.workload.tokens import STOPWORDS, tokenize

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD_SPAN = re.compile(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*")


def _pattern(template: str) -> re.Pattern[str]:
    """A template "The {s} was founded by {o}." as an anchored, case-insensitive regex."""
    body = re.escape(template.rstrip(".")).replace(r"\{s\}", "(?P<s>.+?)")
    body = body.replace(r"\{o\}", "(?P<o>.+?)")
    return re.compile(rf"^{body}\.?$", re.IGNORECASE)


_PATTERNS = tuple((rel.name, _pattern(rel.sentence)) for rel in RELATIONS)

# Which relation a question asks about: (relation, wh-pattern on the question, cue stems).
# A cue word outweighs the wh-word, so "Who is the director ..." is director, not founded_by.
_QUESTION_CUES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("founded_by", r"\bwho\b", frozenset(tokenize("founded founder"))),
    ("located_in", r"\bwhere\b|\bwhich (city|town|place)\b", frozenset(tokenize("located"))),
    ("established_in", r"\bwhen\b|\bwhat year\b", frozenset(tokenize("established"))),
    ("director", r"\bwho\b", frozenset(tokenize("director directs"))),
    ("specializes_in", r"\bwhat\b", frozenset(tokenize("specialize specialty field"))),
    ("members", r"\bhow many\b", frozenset(tokenize("members"))),
    ("named_after", r"\bwho\b", frozenset(tokenize("named"))),
    ("funded_by", r"\bwho\b|\bwhich house\b", frozenset(tokenize("funds funded"))),
    ("emblem", r"\bwhat\b", frozenset(tokenize("emblem"))),
    ("volumes", r"\bhow many\b", frozenset(tokenize("volumes"))),
)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def question_relation(question: str) -> str | None:
    """The template relation a question asks about, or None if nothing points to one."""
    q = question.lower()
    qtoks = set(tokenize(question))
    best, best_score = None, 0
    for name, wh, cues in _QUESTION_CUES:
        score = 2 * len(qtoks & cues) + (1 if re.search(wh, q) else 0)
        if score > best_score:  # strict: the first relation in table order wins ties
            best, best_score = name, score
    return best


def parse_triple(sentence: str) -> list[str] | None:
    """[subject, relation, object] for a sentence built from a fact template, else None."""
    text = sentence.strip()
    for name, pattern in _PATTERNS:
        m = pattern.match(text)
        if m:
            return [m.group("s").strip(), name, m.group("o").strip()]
    return None


def best_span(question: str, sentence: str) -> str:
    """The run of words of `sentence` the question lacks, preferring the wh-word's type.

    A fallback for sentences no template parses: the answer is usually the part of the sentence
    that the question does not repeat ("Mira Kessel" in "X was founded by Mira Kessel").
    """
    qtoks = set(tokenize(question))
    runs: list[list[re.Match[str]]] = [[]]
    for m in _WORD_SPAN.finditer(sentence):
        word = m.group().lower()
        toks = tokenize(word)
        new = word not in STOPWORDS and bool(toks) and not (set(toks) & qtoks)
        if new:
            runs[-1].append(m)
        elif runs[-1]:
            runs.append([])
    runs = [r for r in runs if r]
    if not runs:
        return sentence.strip()
    q = question.lower()

    def fits(run: list[re.Match[str]]) -> int:
        words = [m.group() for m in run]
        if re.search(r"\bwhen\b|\bwhat year\b|\bhow many\b|\bhow much\b", q):
            return int(any(w.isdigit() for w in words))
        if re.search(r"\bwho\b|\bwhere\b", q):
            return int(words[0][:1].isupper())
        return 0

    # Best fit for the question type, then the longest run, then the earliest.
    best = max(runs, key=lambda r: (fits(r), len(r), -r[0].start()))
    return sentence[best[0].start() : best[-1].end()]


class OfflineBackend:
    """Rule-based extract / triple / reason; pure CPU, so it never blocks the agent's loop."""

    blocking = False

    def extract(self, question: str, passages: list[str]) -> ToolResult:
        qtoks = set(tokenize(question))
        best, best_overlap = "", -1
        for passage in passages:
            for sentence in split_sentences(passage):
                overlap = len(qtoks & set(tokenize(sentence)))
                if overlap > best_overlap:  # strict: the earliest sentence wins ties
                    best, best_overlap = sentence, overlap
        return ToolResult({"sentence": best})

    def triple(self, question: str, sentence: str) -> ToolResult:
        return ToolResult({"triple": parse_triple(sentence)})

    def reason(self, question: str, sentence: str, triple: list[str] | None) -> ToolResult:
        wanted = question_relation(question)
        if triple is not None and (wanted is None or triple[1] == wanted):
            return ToolResult({"answer": triple[2]})
        if not sentence.strip():
            return ToolResult({"answer": ""})
        return ToolResult({"answer": best_span(question, sentence)})
