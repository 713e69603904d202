"""Signing secrets and uploaded public keys: generation, parsing and type checks.

A public key is pinned to exactly one algorithm when it is uploaded (SECURITY-NOTES: one
algorithm per key), so every check that ties a key type to an algorithm lives here, once:
`parse_public_key` for people pasting keys (clear refusals), `key_fits` for the verifier.

Fingerprints are ``"SHA256:" + lowercase hex`` of the SHA-256 over the DER SubjectPublicKeyInfo,
the same digest a customer gets from
``openssl pkey -pubin -in public.pem -outform DER | sha256sum``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .errors import KeyRefused

ALGORITHMS = ("HS256", "EdDSA", "ES256", "PS256", "RS256")
ASYMMETRIC = ("EdDSA", "ES256", "PS256", "RS256")

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 4096  # an RSA verification costs about the square of the modulus size: bounded per token
RSA_EXPONENT = 65537  # the only public exponent accepted: a huge one makes every verification slow
# Live (active or in-grace) secrets or keys of one algorithm a workspace may hold: one active, one
# in its grace window after a rotation, and one spare added before replacing (docs/SECURITY.md).
MAX_LIVE_PER_ALG = 3
# Without a kid header a token is tried with at most this many keys of its algorithm.
MAX_TRIED_WITHOUT_KID = 2
MIN_HMAC_KEY_BYTES = 32
MAX_PEM_CHARS = 16_384
SECRET_PREFIX = "sk_"

_PEM_BLOCK = re.compile(
    r"-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=\n]+)\n-----END PUBLIC KEY-----"
)
_PRIVATE_MARKERS = re.compile(r"PRIVATE KEY|PuTTY-User-Key-File", re.IGNORECASE)
_SSH_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")
# DER of the rsassaPss OID 1.2.840.113549.1.1.10 (a key restricted to RSASSA-PSS).
_RSASSA_PSS_OID = bytes.fromhex("06092a864886f70d01010a")
_SHA256_OID = bytes.fromhex("0609608648016503040201")
_OTHER_HASH_OIDS = (
    bytes.fromhex("06052b0e03021a"),  # sha1
    *(bytes.fromhex("06096086480165030402") + bytes([n]) for n in (2, 3, 4, 5, 6)),
)

PRIVATE_KEY_MESSAGE = (
    "This is a private key. Keep it secret on your server (it was not stored) and paste the "
    "public key instead: openssl pkey -in private.pem -pubout"
)


@dataclass(frozen=True)
class ParsedPublicKey:
    """An accepted public key: its pinned algorithm, loaded key, stored PEM and fingerprint."""

    alg: str
    key: object
    spki_pem: str
    fingerprint: str


def generate_secret() -> str:
    """A new HS256 signing secret: 256 random bits, URL-safe, used as UTF-8 bytes verbatim."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_kid(prefix: str) -> str:
    """A short random key id such as ``sec_3q2…`` or ``key_Zx9…`` (96 random bits)."""
    return f"{prefix.rstrip('_')}_{secrets.token_urlsafe(12)}"


def hmac_key(secret: str) -> bytes:
    """The HMAC key of a signing secret: its UTF-8 bytes exactly as shown, never decoded."""
    return secret.encode("utf-8")


def key_fits(alg: str, key: object) -> bool:
    """Whether `key` is a usable verification key for `alg` (type, curve and size)."""
    if alg == "HS256":
        return isinstance(key, bytes) and len(key) >= MIN_HMAC_KEY_BYTES
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey)
    if alg == "ES256":
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if alg in ("PS256", "RS256"):
        return isinstance(key, rsa.RSAPublicKey) and rsa_problem(key) is None
    return False


def rsa_problem(key: rsa.RSAPublicKey) -> str | None:
    """Why an RSA public key is refused (None: it is fine). The bounds keep one verification cheap:
    a 3 000-bit exponent or a 16 384-bit modulus would make every token cost milliseconds."""
    if key.key_size < MIN_RSA_BITS:
        return f"This RSA key has {key.key_size} bits: at least {MIN_RSA_BITS} are required."
    if key.key_size > MAX_RSA_BITS:
        return f"This RSA key has {key.key_size} bits: at most {MAX_RSA_BITS} are accepted."
    numbers = key.public_numbers()
    if numbers.e != RSA_EXPONENT:
        return (f"This RSA key's public exponent is not {RSA_EXPONENT}: only keys with the standard "
                f"exponent {RSA_EXPONENT} are accepted (openssl and every library make them by default).")
    if has_roca_fingerprint(numbers.n):
        return ("This RSA key was made by a vulnerable Infineon chip (ROCA, CVE-2017-15361): its private "
                "key can be computed from this public key. Make a new key pair with openssl (or on an "
                "updated device), upload the new public key and stop using this one.")
    return None


# ROCA (CVE-2017-15361, Nemec et al. 2017): a modulus from the vulnerable Infineon library, reduced
# modulo each of these small primes, always lies in the multiplicative subgroup that 65537
# generates there. A well-made modulus passes all 38 checks with probability about 2^-28 (the masks below are
# roca-detect's published ones, computed here from their definition).
ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
               97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)


def _generated_subgroup(prime: int, generator: int = 65537) -> int:
    """The residues {generator^k mod prime} as a bit mask (bit r set: residue r is in the group)."""
    mask, value = 0, 1
    while not mask >> value & 1:
        mask |= 1 << value
        value = value * generator % prime
    return mask


ROCA_MASKS = tuple(_generated_subgroup(p) for p in ROCA_PRIMES)


def has_roca_fingerprint(modulus: int) -> bool:
    """Whether an RSA modulus has the ROCA fingerprint (the published roca-detect test)."""
    return all(mask >> (modulus % prime) & 1 for prime, mask in zip(ROCA_PRIMES, ROCA_MASKS))


def fingerprint(spki_der: bytes) -> str:
    """``SHA256:`` and the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo."""
    return "SHA256:" + hashlib.sha256(spki_der).hexdigest()


def parse_public_key(pem_text: str, alg: str | None) -> ParsedPublicKey:
    """Accept one SPKI PEM public key for `alg` (None: detect it), or raise KeyRefused.

    Messages are for the person who pasted the key and never quote key material.
    """
    der = _spki_der(pem_text)  # first, so a pasted private key always gets its warning
    if alg is not None and alg not in ASYMMETRIC:
        raise KeyRefused(_unknown_alg_message(alg))
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        raise KeyRefused(
            "This public key could not be read. Paste a PEM public key exported with "
            "openssl pkey -pubout."
        ) from None
    pss_only = _is_pss_restricted(der)
    detected = _detect_alg(key, pss_only)
    chosen = _check_requested(alg, detected, pss_only)
    if not pss_only:  # canonical DER; a PSS key keeps its own, which carries the restriction
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return ParsedPublicKey(alg=chosen, key=key, spki_pem=_to_pem(der), fingerprint=fingerprint(der))


def load_public_key(spki_pem: str, alg: str) -> object:
    """The key object of a stored key, re-checked against its pinned algorithm."""
    return parse_public_key(spki_pem, alg).key


def _unknown_alg_message(alg: object) -> str:
    if alg == "HS256":
        return "HS256 uses a signing secret generated by Signet, not an uploaded public key."
    return "Unsupported algorithm: choose one of " + ", ".join(ASYMMETRIC) + "."


def _spki_der(pem_text: object) -> bytes:
    """The DER inside exactly one ``BEGIN PUBLIC KEY`` block, after refusing look-alikes."""
    if not isinstance(pem_text, str):
        raise KeyRefused("Paste the public key as PEM text.")
    if _PRIVATE_MARKERS.search(pem_text):
        raise KeyRefused(PRIVATE_KEY_MESSAGE)
    if len(pem_text) > MAX_PEM_CHARS:
        raise KeyRefused("This text is too long to be one public key.")
    lines = pem_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join(line.strip() for line in lines).strip()
    _refuse_lookalikes(text)
    if text.count("-----BEGIN") > 1:
        raise KeyRefused("Paste exactly one public key (this text holds several PEM blocks).")
    match = _PEM_BLOCK.fullmatch(text)
    if match is None:
        raise KeyRefused(
            "This is not a PEM public key. Paste the whole block from "
            "-----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----."
        )
    body = match.group(1).replace("\n", "")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRefused("This public key's PEM body is not valid base64.") from None


def _refuse_lookalikes(text: str) -> None:
    """Name the common mistakes: a certificate, an OpenSSH or a PKCS#1 public key."""
    if "BEGIN CERTIFICATE" in text:
        raise KeyRefused(
            "This is a certificate, not a public key. Extract its key with "
            "openssl x509 -in cert.pem -pubkey -noout"
        )
    if text.startswith(_SSH_PREFIXES):
        raise KeyRefused(
            "This is an OpenSSH public key. Convert it to PEM with "
            "ssh-keygen -e -m PKCS8 -f key.pub"
        )
    if "BEGIN RSA PUBLIC KEY" in text:
        raise KeyRefused(
            "This is a PKCS#1 RSA key. Convert it with "
            "openssl rsa -RSAPublicKey_in -in key.pem -pubout"
        )


def _detect_alg(key: object, pss_only: bool) -> str:
    """The algorithm a key type implies, or a refusal naming what is wrong with it."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ed448.Ed448PublicKey):
        raise KeyRefused("Ed448 keys are not supported: use an Ed25519 key for EdDSA.")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyRefused(
                f"The {key.curve.name} curve is not supported: ES256 needs a P-256 key."
            )
        return "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        problem = rsa_problem(key)
        if problem is not None:
            raise KeyRefused(problem)
        return "PS256" if pss_only else "RS256"
    raise KeyRefused(
        "Unsupported key type: upload an Ed25519, P-256 or RSA (2048 to 4096 bits) public key."
    )


def _check_requested(alg: str | None, detected: str, pss_only: bool) -> str:
    """The pinned algorithm: the detected one, or the requested one when the key allows it."""
    if alg is None or alg == detected:
        return detected
    if pss_only and alg == "RS256":
        raise KeyRefused(
            "This RSA key is restricted to RSASSA-PSS (openssl -algorithm RSA-PSS): "
            "it can only be used with PS256."
        )
    if detected == "RS256" and alg == "PS256":
        return alg
    kinds = {"EdDSA": "an Ed25519", "ES256": "a P-256", "PS256": "an RSA", "RS256": "an RSA"}
    raise KeyRefused(f"{alg} needs {kinds[alg]} key, but this is {kinds[detected]} key.")


def _is_pss_restricted(der: bytes) -> bool:
    """Whether the SPKI names rsassaPss; refuses PSS parameters pinning a non-SHA-256 hash."""
    algorithm_id = _first_child(_first_child(der))
    if not algorithm_id.startswith(_RSASSA_PSS_OID):
        return False
    params = algorithm_id[len(_RSASSA_PSS_OID):]
    if any(oid in params for oid in _OTHER_HASH_OIDS) and _SHA256_OID not in params:
        raise KeyRefused("This RSA-PSS key is restricted to a hash other than SHA-256 (PS256).")
    return True


def _first_child(der: bytes) -> bytes:
    """The content of the leading DER TLV (b"" when it cannot be read)."""
    if len(der) < 2:
        return b""
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return b""
        length, offset = int.from_bytes(der[2:2 + count], "big"), 2 + count
    return der[offset:offset + length]


def _to_pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
