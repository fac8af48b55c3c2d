"""Tool backends: the one tool each agent runs."""

from fsr.agents.tools.base import StageBackend, ToolResult
from fsr.agents.tools.offline import OfflineBackend
from fsr.agents.tools.search import CorpusStats, ShardIndex, merge_hits
from fsr.config.schema import Model


def make_backend(model_cfg: Model) -> StageBackend:
    """The extract/triple/reason backend for `llm.model` of the configuration."""
    if model_cfg.type == "offline":
        return OfflineBackend()
    # openai, and local (the runner has pointed base_url at the server it started); imported
    # here so an offline run never loads the openai client.
    from fsr.agents.tools.llm import OpenAIBackend

    return OpenAIBackend(model_cfg)


__all__ = [
    "CorpusStats",
    "OfflineBackend",
    "ShardIndex",
    "StageBackend",
    "ToolResult",
    "make_backend",
    "merge_hits",
]
