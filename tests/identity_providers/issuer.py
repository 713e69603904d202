"""A local OIDC-like issuer on 127.0.0.1 in a thread: discovery and a JWKS whose keys a test adds,
rotates and removes, answers it can make fail, and a count of every request it served. Tokens are
minted by PyJWT (a real library) with the issuer's private keys, made at run time."""
from __future__ import annotations

import collections
import http.server
import json
import threading
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ALGS = ("RS256", "PS256", "ES256", "EdDSA")


def new_private(alg: str, bits: int = 2048):
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(alg: str, private) -> dict:
    tool = {"RS256": RSAAlgorithm, "PS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[alg]
    return tool.to_jwk(private.public_key(), as_dict=True)


class Issuer:
    """Serve `/.well-known/openid-configuration` and `/jwks`; `hits` counts requests per path."""

    def __init__(self):
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.published: list[str] = []
        self.extra: list[dict] = []  # raw JWKs published as given (ignored-key tests)
        self.cache_control: str | None = "max-age=600"
        self.down = False
        self.hits: collections.Counter = collections.Counter()
        self.discovery_issuer: str | None = None  # None: the real one
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                issuer.hits[self.path] += 1
                if issuer.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.discovery_issuer or issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    body = issuer.jwks()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if issuer.cache_control:
                    self.send_header("Cache-Control", issuer.cache_control)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def jwks_hits(self) -> int:
        return self.hits["/jwks"]

    def add_key(self, alg: str = "RS256", kid: str | None = None, publish: bool = True, private=None) -> str:
        kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        self.keys[kid] = (alg, private or new_private(alg))
        if publish:
            self.published.append(kid)
        return kid

    def remove_key(self, kid: str) -> None:
        self.published.remove(kid)

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            alg, private = self.keys[kid]
            keys.append({**public_jwk(alg, private), "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys + self.extra}

    def token(self, kid: str, *, audience: str | None = "client-123", issuer: str | None = None, ttl: int = 300,
              **claims) -> str:
        alg, private = self.keys[kid]
        now = int(time.time())
        body = {"iss": issuer or self.url, "sub": "user-1", "iat": now, "exp": now + ttl, **claims}
        if audience is not None:
            body.setdefault("aud", audience)
        return jwt.encode(body, private, algorithm=alg, headers={"kid": kid})
