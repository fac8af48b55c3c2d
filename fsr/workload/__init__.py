"""Documents, gold QA pairs, generation, loading and sharding."""

from fsr.workload.document import QA, Document, DocumentError, Fragment, load_document
from fsr.workload.generate import DEFAULT_SEED, generate_document, write_document
from fsr.workload.shards import assign_shards, holders

__all__ = [
    "DEFAULT_SEED",
    "QA",
    "Document",
    "DocumentError",
    "Fragment",
    "assign_shards",
    "generate_document",
    "holders",
    "load_document",
    "write_document",
]
