"""Protocol framings behind one interface (`base.ProtocolAdapter`); `REGISTRY` names them.

Adding a protocol: write one module with a `ProtocolAdapter` subclass, add one line below.
"""

from __future__ import annotations

import importlib

from fsr.protocols.base import Heartbeat, LocalInfo, MalformedFrame, Message, ProtocolAdapter

# protocol name -> "module:Class"; imported on first use so a run loads only its own framing.
REGISTRY: dict[str, str] = {
    "json": "fsr.protocols.json_framing:JsonAdapter",
    "a2a": "fsr.protocols.a2a:A2AAdapter",
    "anp": "fsr.protocols.anp:AnpAdapter",
    "acp": "fsr.protocols.acp:AcpAdapter",
}


def adapter_class(name: str) -> type[ProtocolAdapter]:
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["Heartbeat", "LocalInfo", "MalformedFrame", "Message", "ProtocolAdapter", "REGISTRY",
           "adapter_class"]
