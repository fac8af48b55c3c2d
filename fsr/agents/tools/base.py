"""What every tool backend offers: the three text stages and the shape of their results.

An agent owns exactly one tool; search is always BM25 (`search.py`), while extract, triple and
reason go through a `StageBackend`: rule-based offline (`offline.py`) or an LLM (`llm.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ToolResult:
    """A stage's output plus a record of each LLM call it made (empty for offline)."""

    output: dict
    llm_calls: list[dict] = field(default_factory=list)


class StageBackend(Protocol):
    # True when a call may block (network); the agent then runs it off its event loop.
    blocking: bool

    def extract(self, question: str, passages: list[str]) -> ToolResult:
        """output {"sentence": str}: the answer-bearing sentence of the passages."""
        ...

    def triple(self, question: str, sentence: str) -> ToolResult:
        """output {"triple": [subject, relation, object] | None}."""
        ...

    def reason(self, question: str, sentence: str, triple: list[str] | None) -> ToolResult:
        """output {"answer": str}."""
        ...
