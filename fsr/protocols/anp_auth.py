"""anp's reconnection handshake: DID-WBA mutual authentication and the bearer tokens it issues.

``didHello`` (initiator's DID document + a nonce) -> ``didChallenge`` (responder's DID document,
its own nonce, and its signed answer to the initiator's nonce) -> ``didAuth`` (the initiator's
signed answer) -> ``didAuthOk`` (the responder's role, shard version and incarnation, and a
bearer token, expires_in 3600 s as anp's did_wba_verifier.py:54). Each side verifies the
other's secp256k1 signature against the public key in the DID document it was sent
(`fsr.protocols.did_wba`). A token this process did not issue (one from before a restart) gets
``authRequired`` (the 401): the sender authenticates again and resends the message once
(anp_crawler/anp_client.py:191-243 retries once). The framing is the adapter's
(`fsr.protocols.anp`); this module owns the handshake's state.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from fsr import events as ev
from fsr.protocols.base import MalformedFrame, Message
from fsr.protocols.common import Bounded, info_of
from fsr.protocols.did_wba import DidIdentity, authority_of, verify
from fsr.protocols.fields import Fields

if TYPE_CHECKING:
    from fsr.protocols.anp import AnpAdapter

TOKEN_TTL = 3600  # s: anp did_wba_verifier.py:54 (60 min)


class DidWbaAuth:
    """One node's DID-WBA state towards every peer."""

    def __init__(self, adapter: AnpAdapter, me: DidIdentity) -> None:
        self.adapter = adapter
        self.me = me
        self.peer_dids: dict[str, str] = {}
        self.initiated: Bounded = Bounded(256)  # our challenge nonce -> peer
        # our challenge nonce -> (peer, its DID document); by nonce, as an impatient initiator
        # may run two handshakes at once
        self.challenged: Bounded = Bounded(256)
        # bearer tokens: the ones peers issued us (we send them) and the ones we issued (we
        # honour only these; a restarted process has none, so its peers re-authenticate)
        self.tokens: dict[str, str] = {}
        self.issued: dict[str, str] = {}
        self.outbox: Bounded = Bounded(512)  # msg_id -> (dest, Message), for a resend after 401
        self.resend: dict[str, list[str]] = {}  # peer -> msg_ids refused with 401

    def _record(self, event: str, **fields: Any) -> None:
        self.adapter.transport.record(event, **fields)

    def authorization(self, dest: str, message: Message) -> dict[str, str]:
        """The token field of a message to `dest`; the message is kept for a resend."""
        self.outbox[message.msg_id] = (dest, message)
        return {"authorization": f"Bearer {self.tokens[dest]}"} if dest in self.tokens else {}

    def start(self, peer: str) -> bool:
        nonce = secrets.token_hex(16)
        self.initiated[nonce] = peer
        return self.adapter.send_frames(peer, [self.adapter.verification(
            peer, "didHello", didDocument=self.me.document, nonce=nonce)])

    def _send(self, peer: str, kind: str, **fields: Any) -> None:
        self.adapter.send_frames(peer, [self.adapter.verification(peer, kind, **fields)])

    def receive(self, sender: str, kind: str, body: Fields) -> list[Message]:
        if kind == "didHello":  # responder: learn the initiator, challenge it, prove ourselves
            their_nonce = body.text("nonce")
            doc = self._document_of(sender, body)
            nonce = secrets.token_hex(16)
            self.challenged[nonce] = (sender, doc)
            self._send(sender, "didChallenge", didDocument=self.me.document, nonce=nonce,
                            proof=self.me.prove(their_nonce, authority_of(doc["id"])))
        elif kind == "didChallenge":  # initiator: check the responder, answer its challenge
            proof, their_nonce = body.obj("proof"), body.text("nonce")
            if self.initiated.get(str(proof.raw("nonce"))) != sender:
                self._record(ev.DID_AUTH_STALE, peer=sender)
                return []
            doc = self._document_of(sender, body)
            why = verify(proof.data, doc, proof.text("nonce"), authority_of(self.me.did))
            if why is not None:
                self._record(ev.DID_AUTH_FAILED, peer=sender, side="initiator", why=why)
                return []
            self._send(sender, "didAuth",
                            proof=self.me.prove(their_nonce, authority_of(doc["id"])))
        elif kind == "didAuth":  # responder: check the answer to our challenge
            proof = body.obj("proof")
            nonce = str(proof.raw("nonce"))
            peer, doc = self.challenged.pop(nonce, (None, None))
            why = "no such challenge pending" if peer != sender or doc is None else verify(
                proof.data, doc, nonce, authority_of(self.me.did))
            if why is not None:
                self._record(ev.DID_AUTH_FAILED, peer=sender, side="responder", why=why)
                self._send(sender, "didAuthFailed", error=why)
            else:
                token = self.issued[sender] = secrets.token_hex(16)
                self._send(sender, "didAuthOk", agent=info_of(self.adapter.local),
                                token=token, expires_in=TOKEN_TTL)
        elif kind == "didAuthOk":
            if sender not in self.initiated.values():
                return []
            token, agent = body.text("token"), body.obj("agent").data
            for nonce in [n for n, p in self.initiated.items() if p == sender]:
                del self.initiated[nonce]
            self.tokens[sender] = token
            for mid in self.resend.pop(sender, []):  # refused with 401: once more, authorised
                dest, message = self.outbox.get(mid, (None, None))
                if dest == sender and message is not None:
                    self._record(ev.ANP_RESENT, dst=sender, mid=mid)
                    self.adapter.send_frames(sender, self.adapter.encode(sender, message))
            return [self.adapter.peer_ready(sender, agent)]
        elif kind == "authRequired":  # our token is not honoured (the peer restarted)
            mid = body.text("messageId")
            self.tokens.pop(sender, None)
            self._record(ev.ANP_REAUTH, peer=sender, re=mid)
            first = sender not in self.resend
            self.resend.setdefault(sender, []).append(mid)
            if first:
                self.start(sender)
        elif kind == "didAuthFailed":
            self._record(ev.DID_AUTH_REFUSED, peer=sender,
                                  why=str(body.raw("error"))[:200])
        else:
            raise MalformedFrame(f"anp: unknown verification message {kind[:40]!r}")
        return []

    def check_token(self, sender: str, body: Fields) -> None:
        """A bearer token this process did not issue — one from before a restart — is refused
        with 401, and the sender authenticates again and resends. A message without a token is
        taken: the runner's broadcast is not authenticated (it runs no handshake)."""
        given = body.raw("authorization")
        if given is None or given == f"Bearer {self.issued.get(sender)}":
            return
        self._send(sender, "authRequired", messageId=body.text("messageId")[:64],
                        error="401 Invalid token")
        raise MalformedFrame(f"anp: 401 from {sender[:40]!r}: bearer token not issued here")

    def _document_of(self, sender: str, body: Fields) -> dict[str, Any]:
        doc = body.obj("didDocument")
        if doc.raw("id") != body.text("sourceDid"):
            raise MalformedFrame("anp: DID document is not the sender's")
        self.peer_dids[sender] = doc.text("id")
        return doc.data
