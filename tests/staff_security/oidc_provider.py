"""A local OpenID Connect provider on 127.0.0.1, in a thread: discovery, JWKS, an authorize
endpoint that redirects straight back with a code (the user "is" `provider.email`), and a token
endpoint that checks the client's secret and the PKCE verifier and issues an ID token signed
with an RSA key made at run time. `provider.tamper` overrides ID token claims (wrong aud, nonce,
an expired exp) for the refusal tests."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


class Provider:
    def __init__(self, client_id: str = "signet-test", client_secret: str = "s3cret-" + secrets.token_hex(8)):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig", "alg": "RS256"})
        self.email = "alice@corp.example"
        self.tamper: dict = {}
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def id_token(self, grant: dict) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "sub-" + grant["email"], "aud": self.client_id, "iat": now,
                  "exp": now + 300, "nonce": grant["nonce"], "email": grant["email"], "email_verified": True}
        claims.update(self.tamper)
        return jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, self.key)

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    return self._json(200, {
                        "issuer": provider.issuer, "authorization_endpoint": provider.issuer + "/authorize",
                        "token_endpoint": provider.issuer + "/token", "jwks_uri": provider.issuer + "/jwks",
                        "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                        "code_challenge_methods_supported": ["S256"]})
                if parts.path == "/jwks":
                    return self._json(200, {"keys": [provider.key.as_dict(private=False)]})
                if parts.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    assert q["client_id"] == provider.client_id and q["code_challenge_method"] == "S256"
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"],
                                            "redirect_uri": q["redirect_uri"], "email": provider.email}
                    self.send_response(302)
                    self.send_header("Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}))
                    self.end_headers()
                    return None
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                provider.token_requests.append(form)
                expected = base64.b64encode(f"{provider.client_id}:{provider.client_secret}".encode()).decode()
                if self.headers.get("Authorization") != "Basic " + expected:
                    return self._json(401, {"error": "invalid_client"})
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                    return self._json(400, {"error": "invalid_grant", "error_description": "PKCE"})
                return self._json(200, {"access_token": "at", "token_type": "Bearer", "id_token": provider.id_token(grant)})

        return Handler
