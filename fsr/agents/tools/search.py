"""The search tool: BM25 over one agent's shard, scored with *global* corpus statistics.

Every agent receives the whole document in the t = 0 broadcast but keeps only the texts of its
shard. It does keep the statistics of the whole corpus (document count, average length, document
frequency of every term), so the BM25 score of a fragment is the same whichever holder computes
it: hits from different peers are comparable and `merge_hits` can simply take the best.

BM25 is hand-written (a few lines) rather than taken from a library such as `bm25s`, because those
compute IDF from the documents of the index they are given, which here would be one shard.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fsr.workload.tokens import tokenize


@dataclass(frozen=True)
class CorpusStats:
    """Statistics of the whole document, identical on every agent."""

    n_docs: int
    avg_len: float
    doc_freq: dict[str, int]

    @classmethod
    def build(cls, texts: Iterable[str]) -> CorpusStats:
        df: Counter[str] = Counter()
        n = total = 0
        for text in texts:
            toks = tokenize(text)
            n += 1
            total += len(toks)
            df.update(set(toks))
        return cls(n_docs=n, avg_len=(total / n if n else 0.0), doc_freq=dict(df))

    def idf(self, term: str) -> float:
        """Lucene's BM25 IDF, which never goes negative for very common terms."""
        df = self.doc_freq.get(term, 0)
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))


class ShardIndex:
    """BM25 over the fragments one agent holds."""

    def __init__(
        self, fragments: dict[str, str], stats: CorpusStats, k1: float = 1.5, b: float = 0.75
    ) -> None:
        self.stats = stats
        self.k1 = k1
        self.b = b
        self._texts = dict(fragments)
        self._tf = {fid: Counter(tokenize(text)) for fid, text in self._texts.items()}
        self._len = {fid: sum(tf.values()) for fid, tf in self._tf.items()}

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, fid: object) -> bool:
        return fid in self._texts

    def score(self, terms: Iterable[str], fid: str) -> float:
        tf = self._tf[fid]
        avg = self.stats.avg_len or 1.0
        norm = self.k1 * (1.0 - self.b + self.b * self._len[fid] / avg)
        total = 0.0
        for term in terms:
            f = tf.get(term, 0)
            if f:
                total += self.stats.idf(term) * f * (self.k1 + 1.0) / (f + norm)
        return total

    def lookup(self, query: str, fids: Iterable[str] | None, k: int) -> list[dict]:
        """The best `k` fragments of this shard for `query`: [{"fid", "score", "text"}].

        `fids` restricts the search to those fragments (ones not held here are ignored); None
        means the whole shard. Fragments that share no term with the query are not hits.
        Best score first, ties broken by fid, so every holder returns the same order.
        """
        terms = sorted(set(tokenize(query)))
        pool = self._texts.keys() if fids is None else [f for f in fids if f in self._texts]
        hits: list[dict[str, Any]] = []
        for fid in pool:
            s = self.score(terms, fid)
            if s > 0.0:
                hits.append({"fid": fid, "score": s, "text": self._texts[fid]})
        hits.sort(key=lambda h: (-h["score"], h["fid"]))
        return hits[: max(k, 0)]


def merge_hits(hit_lists: Iterable[list[dict]], k: int) -> list[dict]:
    """Merge the hits of several holders: one entry per fid (its best score), best first.

    Replicas of a fragment return the same score (global statistics), so keeping the maximum
    only matters if a peer misbehaves; ordering by (-score, fid) keeps the result deterministic
    whatever order the replies arrived in.
    """
    best: dict[str, dict] = {}
    for hits in hit_lists:
        for hit in hits:
            cur = best.get(hit["fid"])
            if cur is None or hit["score"] > cur["score"]:
                best[hit["fid"]] = hit
    merged = sorted(best.values(), key=lambda h: (-h["score"], h["fid"]))
    return merged[: max(k, 0)]
