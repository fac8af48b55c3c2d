"""The seeded generator of synthetic "Gaia" documents with gold QA pairs (`fsr gen-doc`).

Each fragment is one paragraph about one invented entity ("the Aldoran Observatory") made of 3-5
fact sentences drawn from the fixed relation templates in `RELATIONS`. Every proper noun is built
from syllables and is unique in the document (after tokenisation), so BM25 finds an entity by its
name and a question has exactly one supporting fragment. Everything comes from one
`random.Random(seed)`: the same seed always gives the same document, byte for byte.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from fsr.workload.document import QA, Document, Fragment
from fsr.workload.tokens import STOPWORDS, tokenize

DEFAULT_SEED = 2024
QUESTION_SHARE = 0.9  # facts that get a gold question; the rest stay in the text as distractors


@dataclass(frozen=True)
class Relation:
    """A fact template: `sentence` and `questions` use {s} (subject) and {o} (object)."""

    name: str
    sentence: str
    questions: tuple[str, ...]
    kind: str  # which value pool the object comes from


RELATIONS: tuple[Relation, ...] = (
    Relation("founded_by", "The {s} was founded by {o}.", ("Who founded the {s}?",), "person"),
    Relation(
        "located_in",
        "The {s} is located in {o}.",
        ("Where is the {s} located?", "In which city is the {s} located?"),
        "place",
    ),
    Relation(
        "established_in",
        "The {s} was established in {o}.",
        ("In what year was the {s} established?", "When was the {s} established?"),
        "year",
    ),
    Relation(
        "director",
        "The director of the {s} is {o}.",
        ("Who is the director of the {s}?",),
        "person",
    ),
    Relation(
        "specializes_in",
        "The {s} specializes in {o}.",
        ("What does the {s} specialize in?", "What field does the {s} specialize in?"),
        "field",
    ),
    Relation(
        "members", "The {s} has {o} members.", ("How many members does the {s} have?",), "count"
    ),
    Relation(
        "named_after", "The {s} was named after {o}.", ("Who was the {s} named after?",), "person"
    ),
    Relation(
        "funded_by",
        "The {s} is funded by {o}.",
        ("Who funds the {s}?", "Which house funds the {s}?"),
        "house",
    ),
    Relation(
        "emblem", "The emblem of the {s} is {o}.", ("What is the emblem of the {s}?",), "emblem"
    ),
    Relation(
        "volumes",
        "The {s} keeps {o} volumes in its collection.",
        ("How many volumes does the {s} keep?",),
        "volumes",
    ),
)

# Value pools. fmt: off keeps them compact, one glance shows the whole vocabulary.
# fmt: off
KINDS = (
    "Observatory", "Guild", "Library", "Academy", "Archive", "Conservatory", "Foundry", "Shipyard",
    "Lighthouse", "Monastery", "Society", "Institute", "Museum", "Orchestra", "Trading Company",
)
_FIELD_ADJ = (
    "tidal", "celestial", "glass", "river", "mountain", "clockwork", "lunar", "coastal", "desert",
    "ancient", "botanical", "mineral",
)
_FIELD_NOUN = (
    "cartography", "navigation", "astronomy", "metallurgy", "linguistics", "horology", "botany",
    "acoustics", "shipbuilding", "weaving", "medicine", "masonry",
)
_COLOURS = (
    "silver", "crimson", "golden", "azure", "ivory", "emerald", "amber", "violet", "scarlet",
    "obsidian",
)
_ANIMALS = ("heron", "stag", "owl", "serpent", "lion", "falcon", "whale", "fox", "raven", "swan")
# Syllables of invented proper nouns.
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "th")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei")
_CODAS = ("n", "r", "l", "th", "m", "s", "nd", "")
# fmt: on


class _Names:
    """Invented words, unique by their BM25 token so no two names share a search term."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tokenize = tokenize
        # Words of the templates and value pools must never double as a name.
        vocab = " ".join(
            [r.sentence + " " + " ".join(r.questions) for r in RELATIONS]
            + list(KINDS + _FIELD_ADJ + _FIELD_NOUN + _COLOURS + _ANIMALS)
            + ["House city field year"]
        )
        self.used = set(tokenize(vocab)) | STOPWORDS

    def word(self, min_syl: int = 2, max_syl: int = 3) -> str:
        while True:
            n = self.rng.randint(min_syl, max_syl)
            # Open syllables and one final consonant read like names: "Aldoran", "Merevan".
            w = "".join(self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(n))
            w += self.rng.choice(_CODAS)
            toks = self.tokenize(w)
            if 4 <= len(w) <= 11 and len(toks) == 1 and toks[0] not in self.used:
                self.used.add(toks[0])
                return w.capitalize()


def generate_document(seed: int = DEFAULT_SEED, n_entities: int = 60) -> Document:
    """A deterministic synthetic document: one fragment per entity, ~3.4 questions per entity."""
    if n_entities < 1:
        raise ValueError("n_entities must be >= 1")
    rng = random.Random(seed)
    names = _Names(rng)
    pools = {
        "person": [f"{names.word()} {names.word()}" for _ in range(max(6, n_entities * 2 // 3))],
        "place": [names.word() for _ in range(max(4, n_entities // 2))],
        "house": [f"House {names.word()}" for _ in range(max(3, n_entities // 4))],
        "field": [f"{a} {n}" for a in _FIELD_ADJ for n in _FIELD_NOUN],
        # The article is part of the object so the sentence reads right; grading ignores it.
        "emblem": [
            f"{'an' if c[0] in 'aeiou' else 'a'} {c} {a}" for c in _COLOURS for a in _ANIMALS
        ],
    }
    fragments: list[Fragment] = []
    qa: list[QA] = []
    for i in range(n_entities):
        fid = f"f{i + 1:04d}"
        entity = f"{names.word()} {rng.choice(KINDS)}"
        # Sampled as indices and sorted, so paragraphs read in a stable template order.
        rel_ids = sorted(rng.sample(range(len(RELATIONS)), rng.randint(3, 5)))
        sentences = []
        for r in rel_ids:
            rel = RELATIONS[r]
            obj = _value(rng, rel.kind, pools)
            sentences.append(rel.sentence.format(s=entity, o=obj))
            question = rng.choice(rel.questions).format(s=entity)
            if rng.random() < QUESTION_SHARE:
                qa.append(QA(f"q{len(qa) + 1:04d}", question, obj, (fid,)))
        fragments.append(Fragment(fid, " ".join(sentences)))
    return Document(
        doc_id=f"gaia-{seed}",
        title=f"The Gaia Gazetteer (seed {seed}, {n_entities} entities)",
        fragments=tuple(fragments),
        qa=tuple(qa),
    )


def _value(rng: random.Random, kind: str, pools: dict[str, list[str]]) -> str:
    if kind == "year":
        return str(rng.randint(1450, 1990))
    if kind == "count":
        return str(rng.randint(12, 2400))
    if kind == "volumes":
        return str(rng.randint(300, 90000))
    return rng.choice(pools[kind])


def write_document(path: str | Path, seed: int = DEFAULT_SEED, n_entities: int = 60) -> Document:
    """Generate a document and write it as JSON (the format `load_document` reads)."""
    doc = generate_document(seed, n_entities)
    text = json.dumps(doc.to_json(), indent=1, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
    return doc
