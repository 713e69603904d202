"""Keys and tokens made at test time: no private key is ever committed.

Session fixtures generate each key once (RSA is the slow one); helpers build tokens with PyJWT,
or by hand (base64url + JSON + HMAC) for the shapes PyJWT refuses to produce.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from webapp.identity.keys import generate_secret, hmac_key
from webapp.identity.verifier import Policy, VerificationKey

from ..factories import Key as Signer, public_pem  # one key of a workspace (tests/factories.py)

NOW = 1_800_000_000.0
TENANT = "t_acme"
POLICY = Policy(tenant_id=TENANT)


def b64url(data: bytes | str) -> str:
    """Unpadded base64url, as in a compact JWS."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def part(value: object) -> str:
    """A segment: JSON for dicts and lists, raw bytes/str as given (to craft bad JSON)."""
    if isinstance(value, (bytes, str)):
        return b64url(value)
    return b64url(json.dumps(value, separators=(",", ":")))


def hs256(header: object, claims: object, key: bytes) -> str:
    """An HS256 token signed by hand (PyJWT refuses PEM-looking or empty secrets)."""
    signing_input = f"{part(header)}.{part(claims)}"
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def unsigned(header: object, claims: object, signature: bytes = b"not a signature") -> str:
    """A token with a junk (non-empty) signature, for checks made before the signature."""
    return f"{part(header)}.{part(claims)}.{b64url(signature)}"


def resign(token: str, signer: Signer, header: dict | None = None, claims: object = None) -> str:
    """The token with its header and/or claims replaced, signed again with `signer` (HS256)."""
    head, body, _ = token.split(".")
    head = part(header) if header is not None else head
    body = part(claims) if claims is not None else body
    mac = hmac.new(hmac_key(signer.private), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


DROP = object()  # as a claims() change: leave that claim out


def claims(**changes: object) -> dict:
    """Valid claims at NOW, with `changes` applied (DROP removes a claim; None is JSON null)."""
    base = {"id": "user-1", "email": "jane@example.com", "exp": NOW + 600, "iat": NOW}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not DROP}


spki_pem = public_pem  # the SPKI PEM of a private key's public half


def make_signers(tag: str) -> dict[str, Signer]:
    """One fresh key per algorithm; PS256 and RS256 get distinct RSA keys."""
    eddsa = ed25519.Ed25519PrivateKey.generate()
    es256 = ec.generate_private_key(ec.SECP256R1())
    rsa_keys = {
        alg: rsa.generate_private_key(public_exponent=65537, key_size=2048)
        for alg in ("PS256", "RS256")
    }
    signers = {
        "HS256": Signer("HS256", f"sec_{tag}", generate_secret(), None),
        "EdDSA": Signer("EdDSA", f"key_{tag}_ed", eddsa, spki_pem(eddsa)),
        "ES256": Signer("ES256", f"key_{tag}_es", es256, spki_pem(es256)),
    }
    for alg, private in rsa_keys.items():
        signers[alg] = Signer(alg, f"key_{tag}_{alg.lower()}", private, spki_pem(private))
    return signers


@pytest.fixture(scope="session")
def signers() -> dict[str, Signer]:
    """The tenant's keys, one per algorithm."""
    return make_signers("ours")


@pytest.fixture(scope="session")
def strangers() -> dict[str, Signer]:
    """Another tenant's (or an attacker's) keys, one per algorithm."""
    return make_signers("theirs")


@pytest.fixture(scope="session")
def all_keys(signers) -> list[VerificationKey]:
    return [signer.vkey for signer in signers.values()]


def _openssl_all(commands: list[list[str]]) -> None:
    """Run openssl commands side by side (RSA generation dominates) and check each one."""
    running = [
        subprocess.Popen(["openssl", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for args in commands
    ]
    for args, process in zip(commands, running):
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, (args, err.decode(errors="replace"))


@pytest.fixture(scope="session")
def openssl_keys(tmp_path_factory) -> dict[str, tuple[object, str, Path]]:
    """Keys made by `openssl genpkey`: name -> (loaded private key, public PEM text, pub path)."""
    if shutil.which("openssl") is None:  # never a skip: `make test` installs it (system-deps)
        pytest.fail("the openssl binary is missing: run `make test` (or apt-get install openssl)")
    folder = tmp_path_factory.mktemp("openssl")
    recipes = {
        "ed25519": ["-algorithm", "ed25519"],
        "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa-pss": ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa-pss-sha256": ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
                           "-pkeyopt", "rsa_pss_keygen_md:sha256"],
        "rsa-pss-sha512": ["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
                           "-pkeyopt", "rsa_pss_keygen_md:sha512"],
        "ed448": ["-algorithm", "ed448"],
        "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    }
    paths = {name: (folder / f"{name}.pem", folder / f"{name}.pub") for name in recipes}
    _openssl_all([["genpkey", *recipe, "-out", str(paths[name][0])]
                  for name, recipe in recipes.items()])
    _openssl_all([["pkey", "-in", str(private), "-pubout", "-out", str(public)]
                  for private, public in paths.values()])
    return {
        name: (serialization.load_pem_private_key(private.read_bytes(), password=None),
               public.read_text(), public)
        for name, (private, public) in paths.items()
    }


def crafted_rsa_pem(bits: int, exponent: int = 65537) -> str:
    """The SPKI PEM of an RSA public key with a random odd modulus of exactly `bits` bits and any
    exponent: what an attacker can upload without making a key pair (nothing checks primality)."""
    import secrets

    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    return rsa.RSAPublicNumbers(exponent, modulus).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
