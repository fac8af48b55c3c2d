"""An agent's shard: the fragments of the broadcast document it keeps, indexed for search.

Every agent gets the whole document in the t = 0 broadcast and keeps the texts of its shard
only, with the whole corpus's statistics (`fsr.agents.tools.search`); it also learns who holds
every other fragment (`fsr.workload.holders`), for the router's cover.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsr.agents.tools import CorpusStats, ShardIndex
from fsr.workload import Document, DocumentError, holders


@dataclass
class Shard:
    index: ShardIndex
    fids: list[str]  # every fragment of the document, in its order
    holders: dict[str, list[str]]  # fid -> agents holding it
    version: int

    @classmethod
    def from_broadcast(cls, body: dict[str, Any], node_id: str, workspace: Path) -> Shard:
        """This agent's shard of a `document` message (its shape checked on arrival,
        `fsr.agents.messages`), written to its workspace; DocumentError if the content is
        not a document or a shard names fragments it does not have."""
        doc = Document.from_json(body["document"])
        texts = {f.fid: f.text for f in doc.fragments}
        shards = body["shards"]
        bad = [h for h, fids in shards.items() if any(f not in texts for f in fids)]
        if bad:
            raise DocumentError(f"shard of {str(bad[0])[:40]!r} names unknown fragments")
        mine = {fid: texts[fid] for fid in shards.get(node_id, [])}
        version = int(body.get("version", 1))
        (workspace / "shard.json").write_text(json.dumps(
            {"doc_id": doc.doc_id, "version": version, "fragments": mine}, indent=1))
        return cls(ShardIndex(mine, CorpusStats.build(texts.values())), list(texts),
                   holders(shards), version)

    def split(self, fids: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(held here, held elsewhere) of `fids` (default: every fragment of the document)."""
        fids = self.fids if fids is None else fids
        return [f for f in fids if f in self.index], [f for f in fids if f not in self.index]
