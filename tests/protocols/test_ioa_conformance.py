"""Conformance of ioa's frames with IoA's own AgentMessage: each frame of a conversation (register,
registered, a request, its reply, the document) is read by the pydantic model and is byte for byte
what its ``model_dump_json`` writes — the bytes IoA's client and server put on their WebSocket
(im_client/communication/communication_layer.py:1477, im_server/app.py:56) — plus, on a reply,
fsr's own ``msg_id`` field, which the model ignores.

IoA is not a package (OpenBMB/IoA is a repository, not on PyPI), so its model is declared here as
its source declares it; pydantic comes with the conformance SDKs (``pip install -e
'.[conformance]'``).
"""

from __future__ import annotations

from enum import Enum

import pytest

from fsr.protocols import Message, kinds
from tests.protocols.fakebus import FakeBus, request_body

pydantic = pytest.importorskip("pydantic", reason="pip install -e '.[conformance]'")
BaseModel = pydantic.BaseModel
pytestmark = pytest.mark.conformance


# IoA's model, as OpenBMB/IoA ca5e3d5 common/types/communication.py:46-124 declares it (IoA is
# not on PyPI): the enums, and AgentMessage's fields in their order with their defaults.
CommunicationState = Enum("CommunicationState", "TEAMUP DISCUSSION VOTE EXECUTION", start=0)
CommunicationType = Enum(
    "CommunicationType", "DEFAULT PROPOSAL VOTE VOTING_RESULT DISCUSSION SYNC_TASK_ASSIGNMENT "
    "ASYNC_TASK_ASSIGNMENT INFORM_TASK_RESULT INFORM_TASK_PROGRESS PAUSE "
    "CONCLUDE_GROUP_DISCUSSION CONCLUSION", start=0)


class AgentMessage(BaseModel):
    content: str = ""
    sender: str = ""
    comm_id: str = ""
    next_speaker: str | list[str] = ""
    state: CommunicationState = CommunicationState.TEAMUP
    type: CommunicationType = CommunicationType.DEFAULT
    proposal_id: str = ""
    goal: str | None = None
    team_members: list[dict] | None = None
    team_up_depth: int | None = None
    task_id: str = ""
    task_desc: str = ""
    task_conclusion: str = ""
    task_abstract: str = ""
    triggers: list[str] = []
    updated_plan: str = ""
    is_collaborative_planning_enabled: bool = False
    max_turns: int | None = None



def test_every_frame_is_what_ioas_model_writes() -> None:
    bus = FakeBus("ioa")
    a, hub = bus.add("agent_0", "search"), bus.add("hub", "")
    a.adapter.start_handshake("hub")
    bus.pump()
    req = Message(kinds.LOOKUP, request_body(40))
    a.adapter.send_message("hub", req)
    a.adapter.send_message("hub", Message(kinds.DOCUMENT, {"document": {}, "shards": {}}))
    bus.pump()
    hub.adapter.send_message("agent_0", Message(kinds.LOOKUP_REPLY, {"hits": []},
                                                reply_to=req.msg_id))
    bus.pump()
    frames = [f for node in (a, hub) for _, f in node.transport.sent]
    assert [f.kind for f in frames] == ["ioa.register", "ioa.sync_task_assign",
                                        "ioa.async_task_assign", "ioa.registered",
                                        "ioa.inform_task_result"]
    for frame in frames:
        model = AgentMessage.model_validate_json(frame.data)
        dumped = model.model_dump_json().encode()
        if model.type == CommunicationType.INFORM_TASK_RESULT:
            own = f',"msg_id":"{frame.msg_id}"}}'.encode()
            assert frame.data == dumped[:-1] + own
        else:
            assert frame.data == dumped
    request = AgentMessage.model_validate_json(frames[1].data)
    assert (request.state, request.type, request.next_speaker) == (
        CommunicationState.EXECUTION, CommunicationType.SYNC_TASK_ASSIGNMENT, "hub")
