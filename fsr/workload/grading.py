"""Answer grading: SQuAD-style normalisation, exact match and token F1.

Pure functions, shared by the runner (live grading) and `fsr replay` (re-grading from the log), so
both agree on what "answered correct" means.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (as SQuAD)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(pred: str, gold: str) -> bool:
    """True when the normalised prediction equals the normalised gold answer."""
    return normalize_answer(pred) == normalize_answer(gold)


def token_f1(pred: str, gold: str) -> float:
    """Harmonic mean of token precision and recall after normalisation.

    As in the SQuAD v2 script, when either side normalises to nothing the score is 1.0 only if
    both do (an empty answer to an empty gold is right, anything else is wrong).
    """
    pred_toks = normalize_answer(pred).split()
    gold_toks = normalize_answer(gold).split()
    if not pred_toks or not gold_toks:
        return float(pred_toks == gold_toks)
    common = Counter(pred_toks) & Counter(gold_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_toks)
    recall = same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def answer_found(gold: str, passages: list[str]) -> bool:
    """True when the normalised gold answer occurs, on word boundaries, in the normalised text
    of `passages` (each passage apart: an answer never spans two fragments)."""
    needle = normalize_answer(gold)
    if not needle:
        return False
    return any(f" {needle} " in f" {normalize_answer(p)} " for p in passages)
