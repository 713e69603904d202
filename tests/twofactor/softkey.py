"""A software passkey for test-client tests: a P-256 key pair that answers WebAuthn assertions
exactly as an authenticator would (authenticatorData, clientDataJSON, ES256 signature), so the
server's checks run on real signatures without a browser. The browser tests use Chromium's
virtual authenticator instead."""
from __future__ import annotations

import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url, encode_cbor


class SoftKey:
    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = bytes_to_base64url(os.urandom(32))
        self.count = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def assertion(self, challenge: str, rp_id: str, origin: str) -> dict:
        """The JSON a browser posts after navigator.credentials.get() with this key."""
        self.count += 1
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([0x05]) + struct.pack(">I", self.count)
        client_data = json.dumps({"type": "webauthn.get", "challenge": challenge, "origin": origin,
                                  "crossOrigin": False}).encode()
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": self.credential_id, "rawId": self.credential_id, "type": "public-key",
                "clientExtensionResults": {},
                "response": {"authenticatorData": bytes_to_base64url(auth_data),
                             "clientDataJSON": bytes_to_base64url(client_data),
                             "signature": bytes_to_base64url(signature)}}
