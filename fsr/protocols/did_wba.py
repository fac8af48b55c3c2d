"""DID-WBA identities for the anp framing: DID documents, signed challenge answers, verification.

Follows ANP's did:wba method specification and its SDK (`anp.authentication`): a DID
``did:wba:<host>%3A<port>:agents:<node_id>`` names a DID document whose ``key-1`` verification
method is an ``EcdsaSecp256k1VerificationKey2019`` with a ``publicKeyJwk``, listed under
``authentication``. Proving control of a DID = signing the JCS canonical form of
``{"nonce", "timestamp", "aud", "did"}`` (DID-WBA v1.1 field names): SHA-256 of it, signed with
ECDSA/SHA-256 on secp256k1, encoded as the raw R||S pair in base64url — the SDK's
`generate_auth_json` / `verify_auth_json_signature` format, which the conformance tests check
against the SDK itself.

JCS (RFC 8785) of an object whose values are all ASCII strings is sorted-key compact JSON, which
is what `_jcs` produces; no JCS library is needed for that subset.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HOST = "127.0.0.1"
AUTH_VERSION = "1.1"
KEY_FRAGMENT = "key-1"
MAX_SKEW_S = 300  # the SDK's verifier accepts timestamps within five minutes
CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1"]


def did_for(node_id: str, port: int | None) -> str:
    """The node's DID; without a known port only the path names it (see anp's docstring)."""
    authority = HOST if port is None else HOST + urllib.parse.quote(f":{port}")
    return f"did:wba:{authority}:agents:{node_id}"


def node_of(did: str) -> str:
    """The node id a DID names (its last path segment)."""
    if not did.startswith("did:wba:") or ":agents:" not in did:
        raise ValueError(f"not an fsr did:wba: {did[:80]!r}")
    return did.rsplit(":", 1)[1]


def authority_of(did: str) -> str:
    """``host:port`` of a did:wba — the `aud` a proof addressed to that DID's owner names."""
    return urllib.parse.unquote(did.split(":")[2])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jcs(obj: dict[str, str]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(nonce: str, timestamp: str, aud: str, did: str) -> bytes:
    return hashlib.sha256(_jcs({"nonce": nonce, "timestamp": timestamp, "aud": aud,
                                "did": did})).digest()


class DidIdentity:
    """A node's DID, its secp256k1 key pair and DID document (a fresh key per process)."""

    def __init__(self, did: str) -> None:
        self.did = did
        self._key = ec.generate_private_key(ec.SECP256K1())
        pub = self._key.public_key()
        nums = pub.public_numbers()
        kid = _b64url(hashlib.sha256(pub.public_bytes(Encoding.X962,
                                                      PublicFormat.CompressedPoint)).digest())
        method_id = f"{did}#{KEY_FRAGMENT}"
        self.document: dict[str, Any] = {
            "@context": CONTEXTS,
            "id": did,
            "verificationMethod": [{
                "id": method_id, "type": "EcdsaSecp256k1VerificationKey2019", "controller": did,
                "publicKeyJwk": {"kty": "EC", "crv": "secp256k1",
                                 "x": _b64url(nums.x.to_bytes(32, "big")),
                                 "y": _b64url(nums.y.to_bytes(32, "big")), "kid": kid}}],
            "authentication": [method_id],
        }

    def prove(self, nonce: str, aud: str) -> dict[str, str]:
        """Answer a challenge: the DID-WBA authentication JSON over (nonce, now, aud, did)."""
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        der = self._key.sign(_digest(nonce, ts, aud, self.did), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return {"v": AUTH_VERSION, "did": self.did, "nonce": nonce, "timestamp": ts,
                "verification_method": KEY_FRAGMENT,
                "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}


def verify(proof: dict[str, Any], document: dict[str, Any], nonce: str, aud: str) -> str | None:
    """Check a challenge answer against the signer's DID document; None if valid, else why not."""
    try:
        did = str(proof["did"])
        if did != document.get("id"):
            return "DID does not match its document"
        if proof["nonce"] != nonce:
            return "answers another challenge"
        ts = datetime.strptime(str(proof["timestamp"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - ts).total_seconds()) > MAX_SKEW_S:
            return "timestamp out of range"
        method_id = f"{did}#{proof['verification_method']}"
        if method_id not in document.get("authentication", []):
            return "key not authorised for authentication"
        method = next(m for m in document["verificationMethod"] if m["id"] == method_id)
        jwk = method["publicKeyJwk"]
        if method["type"] != "EcdsaSecp256k1VerificationKey2019" or jwk["crv"] != "secp256k1":
            return "unsupported verification method"
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(_unb64url(jwk["x"]), "big"),
                                            int.from_bytes(_unb64url(jwk["y"]), "big"),
                                            ec.SECP256K1()).public_key()
        raw = _unb64url(str(proof["signature"]))
        if len(raw) != 64:
            return "signature is not a 64-byte R||S pair"
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                   int.from_bytes(raw[32:], "big"))
        pub.verify(der, _digest(nonce, str(proof["timestamp"]), aud, did),
                   ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "bad signature"
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        return f"malformed proof or document: {exc!r}"[:200]
    return None
