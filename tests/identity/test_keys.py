"""Secrets, key ids and public key parsing: detection, pinning and every refusal message."""
from __future__ import annotations

import base64
import datetime
import hashlib
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID

from webapp.identity.errors import KeyRefused
from webapp.identity.keys import (
    ALGORITHMS,
    ASYMMETRIC,
    ParsedPublicKey,
    generate_secret,
    hmac_key,
    key_fits,
    load_public_key,
    new_kid,
    parse_public_key,
)

from .conftest import crafted_rsa_pem, spki_pem

Enc, Pub, Priv = serialization.Encoding, serialization.PublicFormat, serialization.PrivateFormat


@pytest.fixture(scope="session")
def small_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def refusal(text: object, alg: str | None = None) -> str:
    with pytest.raises(KeyRefused) as caught:
        parse_public_key(text, alg)
    return str(caught.value)


def assert_no_key_material(message: str, pasted: str) -> None:
    """No run of 16 base64 characters of what was pasted appears in the message."""
    for run in re.findall(r"[A-Za-z0-9+/]{16,}", pasted):
        for i in range(0, len(run) - 15, 8):
            assert run[i:i + 16] not in message


# --- secrets and ids ----------------------------------------------------------------------

def test_algorithm_lists():
    assert ALGORITHMS == ("HS256", "EdDSA", "ES256", "PS256", "RS256")
    assert ASYMMETRIC == ("EdDSA", "ES256", "PS256", "RS256")


def test_generate_secret_has_256_random_bits_in_url_safe_text():
    secrets_made = {generate_secret() for _ in range(200)}
    assert len(secrets_made) == 200
    for secret in secrets_made:
        assert re.fullmatch(r"sk_[A-Za-z0-9_-]{43}", secret)
        assert len(hmac_key(secret)) >= 32
        assert len(base64.urlsafe_b64decode(secret[3:] + "=")) == 32


def test_hmac_key_is_the_utf8_text_not_decoded():
    assert hmac_key("sk_abc") == b"sk_abc"
    assert hmac_key("sk_é") == "sk_é".encode("utf-8")


@pytest.mark.parametrize("prefix", ["sec", "key", "sec_"])
def test_new_kid(prefix):
    kids = {new_kid(prefix) for _ in range(200)}
    assert len(kids) == 200
    for kid in kids:
        assert re.fullmatch(rf"{prefix.rstrip('_')}_[A-Za-z0-9_-]{{16}}", kid)


# --- detection and pinning ----------------------------------------------------------------

@pytest.mark.parametrize(
    "make, alg",
    [
        (lambda: ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
)
def test_detects_curve_keys(make, alg):
    private = make()
    parsed = parse_public_key(spki_pem(private), None)
    assert isinstance(parsed, ParsedPublicKey) and parsed.alg == alg
    assert parse_public_key(spki_pem(private), alg).alg == alg


def test_detects_rsa_as_rs256_and_allows_ps256(signers):
    pem = signers["RS256"].public_pem
    assert parse_public_key(pem, None).alg == "RS256"
    assert parse_public_key(pem, "RS256").alg == "RS256"
    assert parse_public_key(pem, "PS256").alg == "PS256"


@pytest.mark.parametrize(
    "name, alg",
    [("ed25519", "EdDSA"), ("p256", "ES256"), ("rsa", "RS256"), ("rsa-pss", "PS256"),
     ("rsa-pss-sha256", "PS256")],
)
def test_detects_openssl_keys(openssl_keys, name, alg):
    parsed = parse_public_key(openssl_keys[name][1], None)
    assert parsed.alg == alg
    assert key_fits(alg, parsed.key)


@pytest.mark.parametrize("name", ["rsa-pss", "rsa-pss-sha256"])
def test_rsa_pss_restricted_key_is_pinned_to_ps256(openssl_keys, name):
    text = openssl_keys[name][1]
    assert parse_public_key(text, "PS256").alg == "PS256"
    assert "only be used with PS256" in refusal(text, "RS256")
    stored = parse_public_key(text, None).spki_pem
    assert parse_public_key(stored, None).alg == "PS256"  # the restriction survives storage
    with pytest.raises(KeyRefused):
        load_public_key(stored, "RS256")


def test_rsa_pss_key_restricted_to_another_hash_is_refused(openssl_keys):
    assert "other than SHA-256" in refusal(openssl_keys["rsa-pss-sha512"][1])


def test_fingerprint_is_sha256_of_the_der_spki(openssl_keys):
    for name in ("ed25519", "p256", "rsa", "rsa-pss"):
        _, text, path = openssl_keys[name]
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(path), "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout
        expected = "SHA256:" + hashlib.sha256(der).hexdigest()
        assert parse_public_key(text, None).fingerprint == expected


def test_fingerprint_is_stable_and_distinct(signers, strangers):
    pem = signers["ES256"].public_pem
    first = parse_public_key(pem, None)
    assert first.fingerprint == parse_public_key(first.spki_pem, "ES256").fingerprint
    assert re.fullmatch(r"SHA256:[0-9a-f]{64}", first.fingerprint)
    assert first.fingerprint != parse_public_key(strangers["ES256"].public_pem, None).fingerprint


@pytest.mark.parametrize(
    "dress",
    [
        lambda pem: "  \n\n" + pem + "\n\n  ",
        lambda pem: pem.replace("\n", "\r\n"),
        lambda pem: pem.replace("\n", "  \n"),
        lambda pem: "\t" + pem.strip(),
        lambda pem: pem.replace("\n", "\r"),
    ],
)
def test_surrounding_whitespace_and_line_endings_are_tolerated(signers, dress):
    pem = signers["RS256"].public_pem
    assert parse_public_key(dress(pem), "RS256") == parse_public_key(pem, "RS256")


def test_stored_pem_is_normalized(signers):
    parsed = parse_public_key("\r\n" + signers["EdDSA"].public_pem.replace("\n", "\r\n"), None)
    assert parsed.spki_pem == signers["EdDSA"].public_pem
    assert parsed.spki_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert parsed.spki_pem.endswith("-----END PUBLIC KEY-----\n")


def test_load_public_key_rechecks_the_pinned_algorithm(signers):
    pem = signers["ES256"].public_pem
    assert key_fits("ES256", load_public_key(pem, "ES256"))
    for wrong in ("EdDSA", "RS256", "PS256", "HS256"):
        with pytest.raises(KeyRefused):
            load_public_key(pem, wrong)


# --- refusals -----------------------------------------------------------------------------

def private_pem(marker: str) -> str:
    """A freshly made private key in the PEM flavour that `marker` names."""
    ed = ed25519.Ed25519PrivateKey.generate()
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    none = serialization.NoEncryption()
    makers = {
        "BEGIN PRIVATE KEY": lambda: ed.private_bytes(Enc.PEM, Priv.PKCS8, none),
        "BEGIN RSA PRIVATE KEY": lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=1024
        ).private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, none),
        "BEGIN EC PRIVATE KEY": lambda: ecdsa.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, none),
        "BEGIN OPENSSH PRIVATE KEY": lambda: ed.private_bytes(Enc.PEM, Priv.OpenSSH, none),
        "BEGIN ENCRYPTED PRIVATE KEY": lambda: ecdsa.private_bytes(
            Enc.PEM, Priv.PKCS8, serialization.BestAvailableEncryption(b"pass")),
    }
    return makers[marker]().decode()


@pytest.mark.parametrize(
    "marker",
    ["BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY", "BEGIN EC PRIVATE KEY",
     "BEGIN OPENSSH PRIVATE KEY", "BEGIN ENCRYPTED PRIVATE KEY"],
)
def test_private_key_is_refused_with_advice(marker):
    pem = private_pem(marker)
    assert marker in pem
    for pasted in (pem, spki_pem_of_nothing() + pem, "  " + pem.lower()):
        message = refusal(pasted, None)
        assert "private key" in message and "secret" in message and "public key" in message
        assert_no_key_material(message, pasted)
    assert "private key" in refusal(pem, "EdDSA")
    assert "private key" in refusal(pem, "HS256")
    assert "private key" in refusal(pem + "\n" * 20_000)


def spki_pem_of_nothing() -> str:
    return spki_pem(ed25519.Ed25519PrivateKey.generate())


def test_certificate_is_refused():
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme.example")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    pem = cert.public_bytes(Enc.PEM).decode()
    message = refusal(pem)
    assert "certificate" in message and "openssl x509" in message
    assert_no_key_material(message, pem)


@pytest.mark.parametrize("make", [
    lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
    lambda: ed25519.Ed25519PrivateKey.generate(),
    lambda: ec.generate_private_key(ec.SECP256R1()),
])
def test_openssh_public_key_line_is_refused(make):
    line = make().public_key().public_bytes(Enc.OpenSSH, Pub.OpenSSH).decode() + " jane@laptop\n"
    message = refusal(line, None)
    assert "OpenSSH" in message and "ssh-keygen" in message
    assert_no_key_material(message, line)


def test_pkcs1_rsa_public_key_is_refused_with_a_conversion(signers):
    pem = signers["RS256"].private.public_key().public_bytes(Enc.PEM, Pub.PKCS1).decode()
    assert "PKCS#1" in refusal(pem)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "hello", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----",
     "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----",
     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
     "-----BEGIN PUBLIC KEY-----\nQUFBQQ=\n-----END PUBLIC KEY-----",
     '{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}',
     "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----", None, 42, b"bytes"],
)
def test_garbage_is_refused(text):
    assert refusal(text)


def test_text_around_the_block_is_refused(signers):
    pem = signers["EdDSA"].public_pem
    assert refusal("my key:\n" + pem)
    assert refusal(pem + "thanks")
    assert refusal("x" * 20_000)


def test_several_pem_blocks_are_refused(signers):
    message = refusal(signers["EdDSA"].public_pem + signers["ES256"].public_pem)
    assert "several" in message


@pytest.mark.parametrize("alg", ["HS256", "none", "RS512", "ES384", "eddsa", "", 256])
def test_unknown_algorithm_is_refused(signers, alg):
    message = refusal(signers["EdDSA"].public_pem, alg)
    expected = "signing secret" if alg == "HS256" else "EdDSA, ES256, PS256, RS256"
    assert expected in message


@pytest.mark.parametrize(
    "holder, alg, words",
    [
        ("RS256", "EdDSA", "EdDSA needs an Ed25519 key, but this is an RSA key."),
        ("RS256", "ES256", "ES256 needs a P-256 key, but this is an RSA key."),
        ("EdDSA", "ES256", "ES256 needs a P-256 key, but this is an Ed25519 key."),
        ("EdDSA", "RS256", "RS256 needs an RSA key, but this is an Ed25519 key."),
        ("ES256", "PS256", "PS256 needs an RSA key, but this is a P-256 key."),
        ("ES256", "EdDSA", "EdDSA needs an Ed25519 key, but this is a P-256 key."),
    ],
)
def test_type_mismatch_is_refused(signers, holder, alg, words):
    assert refusal(signers[holder].public_pem, alg) == words


def test_small_rsa_key_is_refused(small_rsa):
    for alg in (None, "RS256", "PS256"):
        assert refusal(spki_pem(small_rsa), alg) == (
            "This RSA key has 1024 bits: at least 2048 are required."
        )


@pytest.mark.parametrize("bits", [1024, 2047, 4097, 5000, 8192])
def test_rsa_modulus_outside_2048_to_4096_bits_is_refused(bits):
    """Finding 7: a huge modulus makes every verification slow (and a small one is weak)."""
    pem = crafted_rsa_pem(bits)
    for alg in (None, "RS256", "PS256"):
        expected = "at least 2048 are required" if bits < 2048 else "at most 4096 are accepted"
        assert refusal(pem, alg) == f"This RSA key has {bits} bits: {expected}."
    assert not key_fits("RS256", serialization.load_pem_public_key(pem.encode()))


@pytest.mark.parametrize("exponent", [3, 17, 65539, (1 << 3067) | 1], ids=["3", "17", "65539", "3068-bit"])
def test_rsa_exponent_other_than_65537_is_refused(exponent):
    """Finding 7: a 3 068-bit public exponent was accepted; every token then cost ~180 times more."""
    pem = crafted_rsa_pem(4096, exponent)
    for alg in (None, "RS256", "PS256"):
        assert "public exponent is not 65537" in refusal(pem, alg)
    assert not key_fits("PS256", serialization.load_pem_public_key(pem.encode()))


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_rsa_2048_to_4096_bits_with_65537_is_accepted(bits):
    pem = crafted_rsa_pem(bits)
    assert parse_public_key(pem, None).alg == "RS256"
    assert key_fits("RS256", serialization.load_pem_public_key(pem.encode()))


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "secp384r1 curve is not supported"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "secp256k1 curve is not supported"),
        (lambda: ed448.Ed448PrivateKey.generate(), "Ed448 keys are not supported"),
        (lambda: x25519.X25519PrivateKey.generate(), "Unsupported key type"),
    ],
)
def test_unsupported_curves_are_refused(make, words):
    assert words in refusal(spki_pem(make()))


def test_openssl_unsupported_curves_are_refused(openssl_keys):
    assert "Ed448" in refusal(openssl_keys["ed448"][1], "EdDSA")
    assert "P-256" in refusal(openssl_keys["p384"][1], "ES256")


# --- key_fits (the verifier's last line) --------------------------------------------------

def test_key_fits(signers, small_rsa):
    keys = {alg: signer.vkey.key for alg, signer in signers.items()}
    for alg in ALGORITHMS:
        for other, key in keys.items():
            same_family = {alg, other} <= {"PS256", "RS256"}
            assert key_fits(alg, key) == (alg == other or same_family)
    assert not key_fits("RS256", small_rsa.public_key())
    assert not key_fits("RS256", signers["RS256"].private)  # private keys never
    assert not key_fits("HS256", b"s" * 31) and key_fits("HS256", b"s" * 32)
    assert not key_fits("HS256", "s" * 40)
    assert not key_fits("ES256", ec.generate_private_key(ec.SECP384R1()).public_key())
    assert not key_fits("none", b"s" * 32)
