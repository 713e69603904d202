"""SecretBox: signing secrets sealed at rest with a key derived from SIGNET_SECRET_KEY."""
from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from webapp.identity.keys import generate_secret
from webapp.identity.secretbox import SecretBox

MASTER = "a-long-random-app-secret-key"


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("plaintext", ["fresh-secret", "", "é ✓ 🔑", "x" * 5000])
def test_round_trip(plaintext):
    plaintext = generate_secret() if plaintext == "fresh-secret" else plaintext
    box = SecretBox(MASTER)
    sealed = box.encrypt(plaintext, "sec_abc")
    assert sealed.startswith("v1.")
    assert SecretBox(MASTER).decrypt(sealed, "sec_abc") == plaintext


def test_each_seal_uses_a_fresh_nonce():
    box = SecretBox(MASTER)
    first, second = box.encrypt("same", "sec_a"), box.encrypt("same", "sec_a")
    assert first != second
    assert unb64(first[3:])[:12] != unb64(second[3:])[:12]


def test_plaintext_never_appears_in_the_ciphertext():
    secret = generate_secret()
    sealed = SecretBox(MASTER).encrypt(secret, "sec_a")
    raw = unb64(sealed[3:])
    assert secret not in sealed and secret[3:20] not in sealed
    assert secret.encode() not in raw and secret[3:20].encode() not in raw
    assert len(raw) == 12 + len(secret.encode()) + 16


def test_key_is_hkdf_sha256_of_the_master_with_the_documented_label():
    sealed = SecretBox(MASTER).encrypt("hello", "sec_a")
    raw = unb64(sealed[3:])
    key = HKDF(hashes.SHA256(), 32, None, b"signet/signing-secrets/v1").derive(MASTER.encode())
    assert AESGCM(key).decrypt(raw[:12], raw[12:], b"sec_a") == b"hello"


def test_wrong_master_key_fails():
    sealed = SecretBox(MASTER).encrypt("hello", "sec_a")
    with pytest.raises(ValueError):
        SecretBox(MASTER + "x").decrypt(sealed, "sec_a")


def test_wrong_aad_fails():
    """A ciphertext copied onto another row (another kid) does not open."""
    sealed = SecretBox(MASTER).encrypt("hello", "sec_a")
    for aad in ("sec_b", "", "sec_a ", "SEC_A"):
        with pytest.raises(ValueError):
            SecretBox(MASTER).decrypt(sealed, aad)


def test_tampering_fails():
    box = SecretBox(MASTER)
    sealed = box.encrypt("hello", "sec_a")
    raw = bytearray(unb64(sealed[3:]))
    for index in (0, 11, 12, len(raw) - 1):
        changed = bytearray(raw)
        changed[index] ^= 0x01
        token = "v1." + base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        with pytest.raises(ValueError):
            box.decrypt(token, "sec_a")


@pytest.mark.parametrize(
    "token",
    ["", "v1.", "v1.AAAA", "v2." + "A" * 60, "A" * 60, "v1.!!!!" + "A" * 60, None, 7],
)
def test_garbage_fails_with_value_error(token):
    with pytest.raises(ValueError):
        SecretBox(MASTER).decrypt(token, "sec_a")


@pytest.mark.parametrize("master", ["", None, b"bytes"])
def test_master_secret_must_be_non_empty_text(master):
    with pytest.raises(ValueError):
        SecretBox(master)
