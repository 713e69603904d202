"""Secrets and keys through the CLI, the database and the verifier: rotation, revocation, replay."""
import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from webapp import create_app
from webapp.extensions import db
from webapp.identity.errors import TokenRefused
from webapp.models import Rejection, UsedJti, VerificationKeyRow
from webapp.models._types import utcnow
from webapp.services.keys import jtis, keyring, pruning, tokens
from webapp.services.workspace import tenants
from webapp.services.errors import Refused

GRACE = 7200


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["signet", *args])


@pytest.fixture
def tenant_id(factory):
    return factory.tenant().public_id


def verify(app, tenant_id, token, now=None, origin=None):
    with app.app_context():
        tenant = tenants.get_tenant(tenant_id)
        return tokens.verify(tenant, token, now=now, origin=origin)


def code_of(app, tenant_id, token, now=None):
    try:
        verify(app, tenant_id, token, now=now)
    except TokenRefused as error:
        return error.code
    return "ok"


def claims(**extra):
    return {"id": "user-1", "exp": int(time.time()) + 600, **extra}


def test_secret_create_prints_it_once_and_stores_it_encrypted(app, cli, tenant_id, tmp_path):
    result = cli("secret", "create", tenant_id)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"kid", "secret"} and len(data["secret"].encode()) >= 32
    token = jwt.encode(claims(), data["secret"], algorithm="HS256", headers={"kid": data["kid"]})
    assert verify(app, tenant_id, token).kid == data["kid"]
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # checkpoint the WAL into the file
    raw = b"".join(p.read_bytes() for p in Path(app.instance_path).glob("test.sqlite3*"))
    assert data["kid"].encode() in raw
    assert data["secret"].encode() not in raw
    listed = json.loads(cli("key", "list", tenant_id).stdout)["keys"]
    assert data["secret"] not in json.dumps(listed) and listed[0]["secret"].endswith(data["secret"][-4:])


def test_secret_rotation_keeps_the_old_one_for_the_grace_window(app, cli, tenant_id):
    old = json.loads(cli("secret", "create", tenant_id).stdout)
    new = json.loads(cli("secret", "create", tenant_id, "--replace").stdout)
    now = time.time()
    for secret in (old, new):
        for with_kid in (True, False):
            token = jwt.encode(claims(exp=now + GRACE * 2), secret["secret"], algorithm="HS256",
                               headers={"kid": secret["kid"]} if with_kid else None)
            assert code_of(app, tenant_id, token, now=now + 60) == "ok"
            after = "token_unknown_key" if with_kid else "token_bad_signature"
            expected = after if secret is old else "ok"
            assert code_of(app, tenant_id, token, now=now + GRACE + 5) == expected
    shown = json.loads(cli("key", "list", tenant_id).stdout)["keys"]
    assert {k["kid"]: k["state"] for k in shown} == {old["kid"]: "grace", new["kid"]: "active"}


def test_add_without_replace_keeps_both_live(app, cli, tenant_id):
    first = json.loads(cli("secret", "create", tenant_id).stdout)
    second = json.loads(cli("secret", "create", tenant_id).stdout)
    far = time.time() + GRACE * 10
    for secret in (first, second):
        token = jwt.encode(claims(exp=far + 600), secret["secret"], algorithm="HS256")
        assert code_of(app, tenant_id, token, now=far) == "ok"


def test_revoke_is_effective_at_once(app, cli, tenant_id):
    secret = json.loads(cli("secret", "create", tenant_id).stdout)
    token = jwt.encode(claims(), secret["secret"], algorithm="HS256", headers={"kid": secret["kid"]})
    assert code_of(app, tenant_id, token) == "ok"
    result = cli("key", "revoke", tenant_id, secret["kid"])
    assert result.exit_code == 0 and json.loads(result.stdout)["state"] == "revoked"
    assert code_of(app, tenant_id, token) == "token_unknown_key"
    missing = cli("key", "revoke", tenant_id, "sec_nope")
    assert missing.exit_code == 1 and "No secret or key with kid 'sec_nope'" in missing.stderr


def openssl_keypair(tmp_path, *genpkey_args):
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    subprocess.run(["openssl", "genpkey", *genpkey_args, "-out", str(private)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True, capture_output=True)
    return private, public


def test_key_add_from_an_openssl_file_and_verify(app, cli, tenant_id, tmp_path):
    private, public = openssl_keypair(tmp_path, "-algorithm", "ed25519")
    result = cli("key", "add", tenant_id, "--alg", "EdDSA", "--file", str(public))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kid"].startswith("key_") and data["fingerprint"].startswith("SHA256:")
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert code_of(app, tenant_id, jwt.encode(claims(), key, algorithm="EdDSA", headers={"kid": data["kid"]})) == "ok"
    assert code_of(app, tenant_id, jwt.encode(claims(), key, algorithm="EdDSA")) == "ok"


@pytest.mark.parametrize(
    "genpkey, alg, message",
    [
        (("-algorithm", "ed25519"), "ES256", "ES256 needs a P-256 key, but this is an Ed25519 key"),
        (("-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"), "RS256", "2048"),
    ],
)
def test_key_add_refusals_store_nothing(app, cli, tenant_id, tmp_path, genpkey, alg, message):
    private, public = openssl_keypair(tmp_path, *genpkey)
    result = cli("key", "add", tenant_id, "--alg", alg, "--file", str(public))
    assert result.exit_code == 1 and message in result.stderr
    pasted_private = cli("key", "add", tenant_id, "--alg", "auto", "--file", str(private))
    assert pasted_private.exit_code == 1 and "private key" in pasted_private.stderr
    assert "BEGIN" not in pasted_private.stderr
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)) == 0


def test_public_key_rotation_grace_and_revoke(app, tenant_id):
    first = ed25519.Ed25519PrivateKey.generate()
    second = ed25519.Ed25519PrivateKey.generate()
    pem = lambda k: k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with app.app_context():
        tenant = tenants.get_tenant(tenant_id)
        old = keyring.add_public_key(tenant, "\n  " + pem(first) + "\n\n", None).kid
        new = keyring.add_public_key(tenant, pem(second), "EdDSA", replace=True).kid
    now = time.time()
    old_token = jwt.encode(claims(exp=now + GRACE * 2), first, algorithm="EdDSA", headers={"kid": old})
    new_token = jwt.encode(claims(exp=now + GRACE * 2), second, algorithm="EdDSA", headers={"kid": new})
    assert code_of(app, tenant_id, old_token, now=now + GRACE - 60) == "ok"
    assert code_of(app, tenant_id, old_token, now=now + GRACE + 60) == "token_unknown_key"
    assert code_of(app, tenant_id, new_token, now=now + GRACE + 60) == "ok"
    with app.app_context():
        keyring.revoke(tenants.get_tenant(tenant_id), new)
    assert code_of(app, tenant_id, new_token) == "token_unknown_key"


def test_a_change_in_one_process_is_seen_by_another_at_once(app, tmp_path, tenant_id):
    """Two apps on one database stand for two processes: each has its own key cache."""
    other = create_app(dict(app.config), instance_path=app.instance_path)
    with app.app_context():
        row, secret = keyring.create_secret(tenants.get_tenant(tenant_id))
        kid = row.kid
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": kid})
    assert code_of(other, tenant_id, token) == "ok"  # `other` caches the key now
    with app.app_context():
        keyring.revoke(tenants.get_tenant(tenant_id), kid)
    assert code_of(other, tenant_id, token) == "token_unknown_key"


def record(app, tenant_id, token, now=None):
    with app.app_context():
        tenant = tenants.get_tenant(tenant_id)
        verified = tokens.verify(tenant, token, now=now)
        try:
            jtis.record_jti(tenant, verified, now=now)
            db.session.commit()
        except TokenRefused as error:
            return error.code
    return "ok"


def test_jti_is_one_time_even_re_encoded(app, tenant_id):
    with app.app_context():
        row, secret = keyring.create_secret(tenants.get_tenant(tenant_id))
        kid = row.kid
    body = claims(jti="order-42")
    token = jwt.encode(body, secret, algorithm="HS256", headers={"kid": kid})
    assert record(app, tenant_id, token) == "ok"
    assert record(app, tenant_id, token) == "token_replayed"
    # The same claims, re-encoded (other header bytes, other signature): still the same jti.
    again = jwt.encode(dict(reversed(list(body.items()))), secret, algorithm="HS256", headers={"typ": "JWT"})
    assert again != token
    assert record(app, tenant_id, again) == "token_replayed"
    # Another tenant may use the same jti.
    with app.app_context():
        other = tenants.create_tenant("Other", "other@example.com", "correct horse battery staple")
        orow, osecret = keyring.create_secret(other)
        other_id = other.public_id
    assert record(app, other_id, jwt.encode(body, osecret, algorithm="HS256")) == "ok"


def test_jti_rows_are_kept_until_exp_plus_leeway_then_pruned(app, cli, tenant_id):
    with app.app_context():
        row, secret = keyring.create_secret(tenants.get_tenant(tenant_id))
    now = time.time()
    token = jwt.encode({"id": "u", "exp": int(now) + 30, "jti": "short-lived"}, secret, algorithm="HS256")
    assert record(app, tenant_id, token, now=now) == "ok"
    with app.app_context():
        expires = db.session.scalar(select(UsedJti.expires_at))
        assert abs(expires.timestamp() - (int(now) + 30 + 60)) < 1
    assert json.loads(cli("prune").stdout)["jti"] == 0
    with app.app_context():
        assert pruning.prune(now=now + 200)["jti"] == 1
        assert db.session.scalar(select(func.count()).select_from(UsedJti)) == 0


def test_rejections_are_logged_without_the_token(app, tenant_id):
    with app.app_context():
        row, secret = keyring.create_secret(tenants.get_tenant(tenant_id))
        kid = row.kid
    token = jwt.encode({"id": "u", "exp": 1000}, secret, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(TokenRefused):
        verify(app, tenant_id, token, origin="https://app.example.com")
    with app.app_context():
        logged = db.session.scalar(select(Rejection))
        assert (logged.code, logged.kid, logged.alg, logged.origin) == ("token_expired", kid, "HS256", "https://app.example.com")
        assert token not in " ".join(str(v) for v in vars(logged).values())


def test_a_secret_sealed_under_another_server_key_verifies_nothing_and_breaks_nothing(app, cli, tenant_id, caplog):
    """A restored backup or a changed SIGNET_SECRET_KEY: that secret is refused, logged, and the
    workspace's other keys still verify (no 500)."""
    broken = json.loads(cli("secret", "create", tenant_id).stdout)
    good = json.loads(cli("secret", "create", tenant_id).stdout)
    with app.app_context():
        row = db.session.scalar(select(VerificationKeyRow).where(VerificationKeyRow.kid == broken["kid"]))
        row.secret_ciphertext = keyring.SecretBox("another-server-key").encrypt("sk_whatever", broken["kid"])
        tenants.get_tenant(tenant_id).keys_version += 1
        db.session.commit()
    for secret, expected in ((good, "ok"), (broken, "token_unknown_key")):
        token = jwt.encode(claims(), secret["secret"], algorithm="HS256", headers={"kid": secret["kid"]})
        assert code_of(app, tenant_id, token) == expected
    assert broken["kid"] in caplog.text and "cannot be loaded" in caplog.text


# --- finding 7: a bounded cost per token ---------------------------------------------------

def _es256_pem_file(tmp_path, name: str):
    """A fresh P-256 key pair: (private key, path of its public PEM file)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / f"{name}.pem"
    path.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, path


def _live_rows(app, alg: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(VerificationKeyRow).where(
            VerificationKeyRow.alg == alg, VerificationKeyRow.revoked_at.is_(None)))


def test_cli_refuses_a_secret_past_the_live_cap_until_one_is_revoked(app, cli, tenant_id):
    made = [json.loads(cli("secret", "create", tenant_id, *(["--replace"] if i else [])).stdout)
            for i in range(keyring.MAX_LIVE_PER_ALG)]  # one active, the others in their grace window
    refused = cli("secret", "create", tenant_id, "--replace")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "already has 3 live signing secrets" in refused.stderr and "Revoke one" in refused.stderr
    assert _live_rows(app, "HS256") == 3
    assert cli("key", "revoke", tenant_id, made[0]["kid"]).exit_code == 0
    assert cli("secret", "create", tenant_id).exit_code == 0
    assert _live_rows(app, "HS256") == 3


def test_cli_refuses_a_public_key_past_the_cap_per_algorithm(app, cli, tenant_id, tmp_path):
    for index in range(3):
        _, path = _es256_pem_file(tmp_path, f"es{index}")
        assert cli("key", "add", tenant_id, "--alg", "ES256", "--file", str(path)).exit_code == 0
    _, path = _es256_pem_file(tmp_path, "es3")
    refused = cli("key", "add", tenant_id, "--alg", "auto", "--file", str(path), "--replace")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "Error (alg): This workspace already has 3 live ES256 public keys" in refused.stderr
    assert _live_rows(app, "ES256") == 3
    with app.app_context():  # nothing half-written: the refused --replace left the others active
        assert {row.state(utcnow()) for row in keyring.list_keys(tenants.get_tenant(tenant_id))} == {"active"}
    _, ed = openssl_keypair(tmp_path, "-algorithm", "ed25519")  # the cap is per algorithm
    assert cli("key", "add", tenant_id, "--alg", "EdDSA", "--file", str(ed)).exit_code == 0


def test_keys_past_their_grace_window_do_not_count(app, tenant_id, tmp_path):
    with app.app_context():
        tenant = tenants.get_tenant(tenant_id)
        for _ in range(3):
            keyring.create_secret(tenant, replace=True)
        with pytest.raises(Refused):
            keyring.create_secret(tenant)
        for row in keyring.list_keys(tenant):  # their grace windows end
            if row.grace_ends_at is not None:
                row.grace_ends_at = utcnow() - timedelta(seconds=5)
        db.session.commit()
        keyring.create_secret(tenant)
        states = sorted(row.state(utcnow()) for row in keyring.list_keys(tenant))
        assert states == ["active", "active", "expired", "expired"]


def test_cli_refuses_rsa_keys_with_another_exponent_or_size(app, cli, tenant_id, tmp_path):
    from tests.identity.conftest import crafted_rsa_pem

    for bits, exponent, words in ((4096, (1 << 3067) | 1, "public exponent is not 65537"),
                                  (4096, 3, "public exponent is not 65537"),
                                  (5000, 65537, "at most 4096 are accepted")):
        path = tmp_path / "crafted.pem"
        path.write_text(crafted_rsa_pem(bits, exponent))
        result = cli("key", "add", tenant_id, "--alg", "RS256", "--file", str(path))
        assert result.exit_code == 1 and words in result.stderr, result.stderr
    assert _live_rows(app, "RS256") == 0


def test_a_stored_key_that_breaks_the_rsa_rules_verifies_nothing_and_counts(app, tenant_id, caplog):
    """A key stored before the rules (here written straight into the table): skipped with a log
    line, the tenant's other keys work, and it counts against the cap until revoked."""
    from tests.identity.conftest import crafted_rsa_pem

    with app.app_context():
        tenant = tenants.get_tenant(tenant_id)
        for index in range(3):
            db.session.add(VerificationKeyRow(tenant_id=tenant.id, kid=f"key_old{index}", kind="public_key",
                                              alg="RS256", public_pem=crafted_rsa_pem(4096, (1 << 3067) | 1)))
        tenant.keys_version += 1
        db.session.commit()
        assert keyring.live_keys(tenant, utcnow()) == []
        with pytest.raises(Refused) as caught:
            keyring.add_public_key(tenant, crafted_rsa_pem(2048), "RS256")
        assert "already has 3 live RS256 public keys" in caught.value.message
    assert "key_old0" in caplog.text and "cannot be loaded" in caplog.text


def test_no_kid_token_with_three_live_keys_names_the_reason(app, cli, tenant_id, tmp_path):
    """Through the keyring and the verification service: a rotation works without kid, a third
    live key makes tokens signed by the oldest need their kid."""
    first, path = _es256_pem_file(tmp_path, "first")
    kid1 = json.loads(cli("key", "add", tenant_id, "--alg", "ES256", "--file", str(path)).stdout)["kid"]
    second, path = _es256_pem_file(tmp_path, "second")
    cli("key", "add", tenant_id, "--alg", "ES256", "--file", str(path), "--replace")
    for private in (first, second):  # one active, one in grace: no kid needed
        assert code_of(app, tenant_id, jwt.encode(claims(), private, algorithm="ES256")) == "ok"
    third, path = _es256_pem_file(tmp_path, "third")
    cli("key", "add", tenant_id, "--alg", "ES256", "--file", str(path), "--replace")
    assert code_of(app, tenant_id, jwt.encode(claims(), first, algorithm="ES256")) == "token_unknown_key"
    assert code_of(app, tenant_id, jwt.encode(claims(), first, algorithm="ES256", headers={"kid": kid1})) == "ok"
    for private in (second, third):
        assert code_of(app, tenant_id, jwt.encode(claims(), private, algorithm="ES256")) == "ok"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_app(request, tmp_path):
    """The app on SQLite, or on a fresh PostgreSQL database."""
    from .conftest import make_app

    if request.param == "sqlite":
        yield make_app(tmp_path)
        return
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=request.getfixturevalue("postgres_url"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_concurrent_adds_never_pass_the_cap(race_app):
    """Eight adds at once into a workspace with room for one: exactly one is stored."""
    from concurrent.futures import ThreadPoolExecutor

    with race_app.app_context():
        public_id = tenants.create_tenant("Race", "race-keys@example.com", "correct horse battery staple").public_id
        for _ in range(keyring.MAX_LIVE_PER_ALG - 1):
            keyring.create_secret(tenants.get_tenant(public_id))

    def add(_):
        with race_app.app_context():
            try:
                keyring.create_secret(tenants.get_tenant(public_id))
                return "added"
            except Refused:
                return "refused"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(add, range(8)))
    assert sorted(outcomes) == ["added"] + ["refused"] * 7
    with race_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)) == keyring.MAX_LIVE_PER_ALG
