"""Every signing sample the product shows runs, and the server accepts what it prints.

For each key kind (the HS256 secret; EdDSA, ES256, PS256, RS256 public keys) a real workspace is
made through the dashboard: its secret generated there, its key pair made by the exact openssl
commands the Secrets and keys page shows, the public key uploaded there. The Install, Identity
verification and Login links pages are then rendered, each sample is taken from the HTML as a
customer copies it, written to a folder with the key, run with node (jsonwebtoken, jose), python
(PyJWT) or ruby (ruby-jwt), and the token it prints is POSTed to set-user on a served Signet:
200, verified, with the sample's attrs and both organizations. docs/INTEGRATION.md's samples run
the same way with its placeholders filled in.
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from webapp.extensions import db

from .conftest import PASSWORD
from .factories import make_workspace
from .helpers import csrf_of, login, post_form
from .servers import ROOT, Server, migrated_app

SECRET_KEY = "samples-test-secret-key"
NODE_MODULES = ROOT / "tests" / "samples" / "node_modules"
LANGUAGES = ("jsonwebtoken", "jose", "pyjwt", "ruby")
PUBLIC_ALGS = ("EdDSA", "ES256", "PS256", "RS256")
PAGES = ("/settings/install", "/settings/identity")
ORGANIZATIONS = [{"id": "org-456", "name": "Acme Corp", "attrs": {"seats": 25}},
                 {"id": "org-789", "name": "Globex", "attrs": {"seats": 3}}]
FILES = {"jsonwebtoken": "signet-token.cjs", "jose": "signet-token.mjs", "pyjwt": "signet_token.py",
         "ruby": "signet_token.rb"}
CODE = re.compile(r'<code id="([a-z0-9-]+)">(.*?)</code>', re.S)


def codes(page: str) -> dict[str, str]:
    """Every <code id=…> block of a page, as the Copy button copies it (its text)."""
    return {name: html.unescape(body) for name, body in CODE.findall(page)}


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def run_openssl(commands: str, folder: Path) -> None:
    """The commands exactly as the page shows them, one line at a time (no shell)."""
    for line in commands.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "openssl", line
        result = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (line, result.stderr)


def run_sample(language: str, code: str, folder: Path, secret: str | None) -> str:
    """Write the sample into `folder` (which holds private.pem for a key) and run it: its output."""
    path = folder / FILES[language]
    path.write_text(code + "\n", encoding="utf-8")
    if language in ("jsonwebtoken", "jose") and not (folder / "node_modules").exists():
        (folder / "node_modules").symlink_to(NODE_MODULES)
    command = {"jsonwebtoken": ["node", path.name], "jose": ["node", path.name],
               "pyjwt": [sys.executable, path.name], "ruby": ["ruby", path.name]}[language]
    env = {**os.environ, "SIGNET_SECRET": secret or ""}
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (language, result.stderr, code)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


class SampleWorkspace:
    """One workspace (tests/factories.py) whose secret is made and key (for `alg`) uploaded through
    the dashboard, with the code samples its pages show."""

    def __init__(self, app, alg: str | None, folder: Path):
        self.folder = folder
        folder.mkdir()
        email = f"owner-{(alg or 'hs').lower()}@example.com"
        self.workspace = make_workspace(app, f"Samples {alg or 'HS256'}", owner=email, secret=False,
                                        login_links_enabled=True)
        self.tenant_id = self.workspace.public_id
        self.client = app.test_client()
        assert login(self.client, email, PASSWORD).status_code == 302
        made = post_form(self.client, "/settings/keys/secret", {"label": "backend"}, page="/settings/keys")
        assert made.status_code == 201
        self.secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', made.get_data(as_text=True)).group(1)
        self.alg = alg
        if alg:
            self._upload_key(alg)
        self.pages = {path: codes(self.client.get(path).get_data(as_text=True)) for path in (*PAGES, "/settings/login-links")}

    def _upload_key(self, alg: str) -> None:
        """The key pair made by the page's own openssl commands; the public half uploaded there."""
        commands = codes(self.client.get("/settings/keys").get_data(as_text=True))[f"openssl-{alg.lower()}"]
        run_openssl(commands, self.folder)
        private = (self.folder / "private.pem").read_text()
        public = (self.folder / "public.pem").read_text()
        assert private.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, what every sample loads
        assert public.startswith("-----BEGIN PUBLIC KEY-----")  # SPKI, what the upload takes
        page = self.client.get("/settings/keys").get_data(as_text=True)
        uploaded = self.client.post("/settings/keys/public", data={"csrf_token": csrf_of(page), "pem": public, "alg": alg})
        assert uploaded.status_code == 302, uploaded.get_data(as_text=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A migrated SQLite database, an app on it for the dashboard, gunicorn on it for set-user,
    and one workspace per public key algorithm (the first also stands for the HS256 secret)."""
    folder = tmp_path_factory.mktemp("samples")
    url, app = migrated_app(folder, SECRET_KEY, SIGNET_RATELIMIT=None)
    workspaces = {alg: SampleWorkspace(app, alg, folder / alg) for alg in PUBLIC_ALGS}
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY})
    yield server, workspaces
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def assert_accepted(server, tenant_id: str, body: dict) -> dict:
    status, answer = post_json(f"{server.url}/api/v1/widget/{tenant_id}/set-user", body)
    assert status == 200, answer
    user = answer["user"]
    assert user["verified"] is True and user["id"] == "user-123"
    assert user["email"] == "jane@example.com" and user["name"] == "Jane Doe"
    assert user["attrs"] == {"plan": "pro"}
    assert sorted(user["organizations"], key=lambda o: o["id"]) == ORGANIZATIONS
    return user


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_hs256_sample_runs_and_its_token_is_accepted(served, page, language):
    server, workspaces = served
    workspace = workspaces["ES256"]
    code = workspace.pages[page][f"sample-hs256-{language}"]
    assert f"{workspace.tenant_id}" in code and "PLACEHOLDER" not in code
    token = run_sample(language, code, workspace.folder, workspace.secret)
    assert_accepted(server, workspace.tenant_id, {"jwt": token})


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("alg", PUBLIC_ALGS)
def test_every_public_key_sample_runs_and_its_token_is_accepted(served, page, language, alg):
    server, workspaces = served
    workspace = workspaces[alg]
    samples = workspace.pages[page]
    if alg == "EdDSA" and language == "jsonwebtoken":
        # jsonwebtoken cannot sign EdDSA: the page says so and shows no sample for it.
        assert "sample-eddsa-jsonwebtoken" not in samples
        return
    code = samples[f"sample-{alg.lower()}-{language}"]
    token = run_sample(language, code, workspace.folder, None)
    segment = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert header["alg"] == alg and header["kid"].startswith("key_")
    assert_accepted(server, workspace.tenant_id, {"jwt": token})


def test_the_install_and_identity_pages_show_the_same_samples(served):
    _, workspaces = served
    for workspace in workspaces.values():
        install, identity = (workspace.pages[page] for page in PAGES)
        shown = {name: code for name, code in install.items() if name.startswith("sample-")}
        assert len(shown) >= 7
        assert shown == {name: code for name, code in identity.items() if name.startswith("sample-")}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_login_link_sample_runs_and_its_link_signs_the_user_in(served, language):
    server, workspaces = served
    workspace = workspaces["EdDSA"]
    code = workspace.pages["/settings/login-links"][f"link-hs256-{language}"]
    link = run_sample(language, code, workspace.folder, workspace.secret)
    base, _, query = link.partition("?")
    assert base.endswith(f"/m/{workspace.tenant_id}")
    auth_code = urllib.parse.parse_qs(query)["externalAuthCode"][0]
    assert_accepted(server, workspace.tenant_id, {"externalAuthCode": auth_code})


@pytest.mark.parametrize("language", ["jsonwebtoken", "pyjwt"])
def test_the_integration_guides_samples_run_with_its_placeholders_filled_in(served, language):
    server, workspaces = served
    workspace = workspaces["PS256"]
    guide = (ROOT / "docs" / "INTEGRATION.md").read_text(encoding="utf-8")
    fence = {"jsonwebtoken": "js", "pyjwt": "python"}[language]
    blocks = [b for b in re.findall(rf"```{fence}\n(.*?)```", guide, re.S) if "SIGNET_SECRET" in b]
    assert len(blocks) == 1, blocks
    kid = re.search(r'kid[^"]*"(sec_[^"]+)"', "\n".join(workspace.pages[PAGES[0]].values())).group(1)
    code = "\n".join(line[3:] if line.startswith("   ") else line for line in blocks[0].splitlines())
    code = code.replace("TENANT_ID", workspace.tenant_id).replace("SECRET_KID", kid)
    token = run_sample(language, code, workspace.folder, workspace.secret)
    assert_accepted(server, workspace.tenant_id, {"jwt": token})
