"""Protocol framings behind one interface (`base.ProtocolAdapter`); `REGISTRY` names them.

Adding a protocol: write one module with a `ProtocolAdapter` subclass, add one line below.
"""

from __future__ import annotations

import importlib

from fsr.protocols.base import Heartbeat, LocalInfo, MalformedFrame, Message, ProtocolAdapter
from fsr.protocols.failure import FailureDesign, baseline

# protocol name -> "module:Class"; imported on first use so a run loads only its own framing.
REGISTRY: dict[str, str] = {
    "json": "fsr.protocols.json_framing:JsonAdapter",
    "a2a": "fsr.protocols.a2a:A2AAdapter",
    "anp": "fsr.protocols.anp:AnpAdapter",
    "acp": "fsr.protocols.acp:AcpAdapter",
    "agora": "fsr.protocols.agora:AgoraAdapter",
    "ioa": "fsr.protocols.ioa:IoaAdapter",
}
# The node id of the hub process a protocol with `ProtocolAdapter.HUB` routes everything through.
HUB_ID = "hub"


def adapter_class(name: str) -> type[ProtocolAdapter]:
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def has_hub(protocol: str) -> bool:
    """Whether `protocol` routes every message through a hub (`HUB_ID`): the run plan adds the
    hub process and makes the topology its star."""
    return adapter_class(protocol).HUB


def design_for(protocol: str, mode: str, scale: float, hb_interval: float, hb_liveness: int,
               hop_timeout: float) -> FailureDesign:
    """The failure-handling design a run uses: the protocol's own (``native``, its times scaled
    by `scale`) or json's baseline for every protocol (``uniform``)."""
    own = adapter_class(protocol).DESIGN
    if mode == "uniform" or own is None:
        return baseline(hb_interval, hb_liveness, hop_timeout)
    return own.scaled(scale)


__all__ = ["HUB_ID", "FailureDesign", "Heartbeat", "LocalInfo", "MalformedFrame", "Message",
           "ProtocolAdapter", "REGISTRY", "adapter_class", "design_for", "has_hub"]
