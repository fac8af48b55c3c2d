"""Words as BM25 sees them: the one tokenizer shared by the offline search tool
(`fsr.agents.tools.search`), which scores fragments with it, and the document generator
(`fsr.workload.generate`), which keeps invented names apart by it."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
# Function words only: content words such as "founded" or "members" must stay, they are what tells
# one fact sentence from another.
# fmt: off
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "in", "into",
    "is", "it", "its", "many", "much", "of", "on", "or", "she", "that", "the", "their", "them",
    "they", "this", "to", "was", "were", "what", "when", "where", "which", "who", "whom",
    "whose", "why", "will", "with", "would"
})
# fmt: on


def _stem(tok: str) -> str:
    """A tiny suffix stripper so that "specialize"/"specializes"/"specialized" meet.

    Deliberately crude and purely deterministic; it only has to make a question's verbs meet the
    fact sentence's, and it is applied the same way to every text and query.
    """
    if tok.isdigit():
        return tok
    if len(tok) > 4 and tok.endswith("ies"):
        tok = tok[:-3] + "y"
    elif len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
        tok = tok[:-1]
    if len(tok) > 4 and tok.endswith("ed"):
        tok = tok[:-2]
    elif len(tok) > 5 and tok.endswith("ing"):
        tok = tok[:-3]
    if len(tok) > 3 and tok.endswith("e"):
        tok = tok[:-1]
    return tok


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric tokens, stopwords removed, lightly stemmed."""
    return [_stem(t) for t in _WORD.findall(text.lower()) if t not in STOPWORDS]
