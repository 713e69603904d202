"""What one junk token costs a workspace at its key cap (issue 20, finding 7).

    .venv/bin/python bench/junk_token_cost.py [--tokens 2000]

Makes a workspace holding the most live keys allowed for every algorithm (3 HS256 secrets, and 3
EdDSA, ES256, PS256 and RS256 public keys, the RSA ones 4096 bits; each algorithm's second and
third added with "replace", which puts every live public key into its grace window), then sends
tokens without `kid` and with random signatures: the attacker's cheapest way to make Signet try
keys. For each algorithm it prints the median and 99th percentile of one token's cost, in µs:

- `verifier`: keyring.live_keys + verify_token (the keys as the widget API gets them, cached);
- `service`: tokens.verify, the widget API's whole path for a refused token (it also
  writes the refusal to the rejection log in its own short transaction, on SQLite here);
- `with kid`: the same junk token naming one of the keys (exactly one key is tried).

For scale it also times one RSA-3072 signature check with e = 65537 and with a 3 068-bit public
exponent (the kind of key Signet accepted before; OpenSSL itself refuses exponents over 64 bits
only for moduli over 3 072 bits), straight through `cryptography`.
The RSA public keys are random odd moduli with e = 65537, as an attacker uploads them: checking a
signature costs the same modular exponentiation as with a real key.
"""
from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.identity.errors import TokenRefused  # noqa: E402
from webapp.identity.verifier import verify_token  # noqa: E402
from webapp.models._types import utcnow  # noqa: E402
from webapp.services.keys import debugger, keyring, tokens  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SIGNATURE_BYTES = {"HS256": 32, "EdDSA": 64, "ES256": 64, "PS256": 512, "RS256": 512}


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def junk_token(alg: str, kid: str | None = None) -> str:
    """A well-formed token with valid claims and a random signature of the right length."""
    import json

    header = {"alg": alg, "typ": "JWT", **({"kid": kid} if kid else {})}
    claims = {"id": "victim", "exp": int(time.time()) + 600}
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(secrets.token_bytes(SIGNATURE_BYTES[alg]))}"


def pem(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def rsa_4096(exponent: int = 65537):
    modulus = secrets.randbits(4096) | (1 << 4095) | 1
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def fill_to_the_cap(tenant) -> dict[str, list[str]]:
    """The most live keys of every algorithm, through the keyring (so its rules apply)."""
    makers = {
        "EdDSA": lambda: ed25519.Ed25519PrivateKey.generate().public_key(),
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()).public_key(),
        "PS256": rsa_4096,
        "RS256": rsa_4096,
    }
    kids: dict[str, list[str]] = {alg: [] for alg in ("HS256", *makers)}
    for index in range(keyring.MAX_LIVE_PER_ALG):
        kids["HS256"].append(keyring.create_secret(tenant, replace=index > 0)[0].kid)
        for alg, make in makers.items():
            kids[alg].append(keyring.add_public_key(tenant, pem(make()), alg, replace=index > 0).kid)
    for alg in makers:  # one more is refused
        try:
            keyring.add_public_key(tenant, pem(makers[alg]()), alg)
        except keyring.ServiceError:
            pass
        else:
            raise SystemExit(f"the cap did not hold for {alg}")
    return kids


def timed(call, tokens: list[str]) -> tuple[float, float]:
    """(median, 99th percentile) of one call per token, in µs; every call must be refused."""
    costs = []
    for token in tokens:
        start = time.perf_counter_ns()
        try:
            call(token)
        except TokenRefused:
            pass
        else:
            raise SystemExit("a junk token was accepted")
        costs.append((time.perf_counter_ns() - start) / 1000)
    costs.sort()
    return statistics.median(costs), costs[int(len(costs) * 0.99) - 1]


def rsa_check_cost(bits: int, exponent: int, rounds: int = 50) -> float:
    """Median µs of one RSA PKCS#1 v1.5 signature check with this modulus size and exponent."""
    key = rsa.RSAPublicNumbers(exponent, secrets.randbits(bits) | (1 << (bits - 1)) | 1).public_key()
    costs = []
    for _ in range(rounds):
        signature = secrets.token_bytes(bits // 8)
        start = time.perf_counter_ns()
        try:
            key.verify(signature, b"x", padding.PKCS1v15(), hashes.SHA256())
        except Exception:  # InvalidSignature: the cost is the exponentiation before it
            pass
        costs.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000, help="junk tokens per algorithm and path")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="signet-junk-")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite3",
                      "SECRET_KEY": "bench-secret-key", "SIGNET_RATELIMIT": None}, instance_path=folder)
    with app.app_context():
        db.create_all()
        tenant = tenants.create_tenant("Junk", f"junk-{time.time_ns()}@example.com", "correct horse battery staple")
        kids = fill_to_the_cap(tenant)
        policy = tokens.policy_for(tenant)
        states = {}
        for row in keyring.list_keys(tenant):
            states.setdefault(row.alg, []).append(row.state(utcnow()))
        print(f"{keyring.MAX_LIVE_PER_ALG} live keys per algorithm, RSA 4096 bits; {args.tokens} junk tokens "
              "without kid per row; µs per token, median / p99")
        print(f"{'alg':6} {'live (active+grace)':>19} {'tried':>5} {'verifier':>17} {'service':>17} {'with kid':>17}")
        for alg, alg_kids in kids.items():
            no_kid = [junk_token(alg) for _ in range(args.tokens)]
            named = [junk_token(alg, alg_kids[0]) for _ in range(args.tokens)]

            def bare(token):
                return verify_token(token, keys=keyring.live_keys(tenant, utcnow()), policy=policy, now=time.time())

            tried = len(debugger.diagnose(tenant, no_kid[0])["candidates"])
            rows = [timed(bare, no_kid), timed(lambda t: tokens.verify(tenant, t), no_kid[: args.tokens // 4]),
                    timed(bare, named)]
            live = f"{states[alg].count('active')}+{states[alg].count('grace')}"
            print(f"{alg:6} {live:>19} {tried:>5} " + " ".join(f"{med:8.1f} / {p99:6.1f}" for med, p99 in rows))
        db.session.remove()
        db.engine.dispose()
    fast, slow = rsa_check_cost(3072, 65537), rsa_check_cost(3072, (1 << 3067) | 1, rounds=10)
    print(f"one RSA-3072 check: e = 65537 {fast:.1f} µs; a 3 068-bit e {slow:.1f} µs ({slow / fast:.0f}x; "
          f"now refused at upload; 200 such keys tried per token: {200 * slow / 1e6:.2f} s)")
    print(f"one RSA-4096 check with e = 65537: {rsa_check_cost(4096, 65537):.1f} µs")


if __name__ == "__main__":
    main()
