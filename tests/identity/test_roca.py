"""ROCA (CVE-2017-15361): RSA public keys made by the vulnerable Infineon library are refused at upload.

The fixture is the PUBLIC key of Wycheproof's test group `jws_rsa_roca_key` (C2SP/wycheproof,
testvectors_v1/json_web_key_test.json), written as SPKI PEM; its private half is not committed.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.identity.errors import KeyRefused
from webapp.identity.keys import ROCA_MASKS, ROCA_PRIMES, has_roca_fingerprint, key_fits, parse_public_key
from webapp.models import VerificationKeyRow

from ..helpers import post_form

ROCA_PEM = (Path(__file__).parent / "fixtures" / "wycheproof_roca_public.pem").read_text()
WORDS = "ROCA, CVE-2017-15361"

# roca-detect's published masks for the first and last primes (bit r: residue r is in the group).
PUBLISHED = {3: 6, 5: 30, 7: 126, 11: 1026, 13: 5658, 17: 107286, 19: 199410, 23: 8388606,
             167: 187072209578355573530071658587684226515959365500926}


def test_the_masks_are_the_published_ones():
    assert len(ROCA_PRIMES) == 38
    masks = dict(zip(ROCA_PRIMES, ROCA_MASKS))
    assert {p: masks[p] for p in PUBLISHED} == PUBLISHED


def test_the_wycheproof_roca_key_has_the_fingerprint():
    key = serialization.load_pem_public_key(ROCA_PEM.encode())
    assert has_roca_fingerprint(key.public_numbers().n)
    assert not key_fits("RS256", key) and not key_fits("PS256", key)


@pytest.mark.parametrize("alg", [None, "RS256", "PS256"])
def test_the_roca_key_is_refused_with_a_clear_message(alg):
    with pytest.raises(KeyRefused) as refused:
        parse_public_key(ROCA_PEM, alg)
    assert WORDS in str(refused.value) and "Make a new key pair" in str(refused.value)


def test_generated_keys_do_not_have_the_fingerprint():
    for _ in range(3):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        assert not has_roca_fingerprint(key.public_numbers().n)
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        assert parse_public_key(pem, None).alg == "RS256"


def _key_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(VerificationKeyRow))


def test_cli_refuses_the_roca_key_and_accepts_a_normal_one(app, factory, tmp_path):
    tenant = factory.tenant()
    runner = app.test_cli_runner()
    fixture = tmp_path / "roca.pem"
    fixture.write_text(ROCA_PEM)
    refused = runner.invoke(args=["signet", "key", "add", tenant.public_id, "--alg", "auto", "--file", str(fixture)])
    assert refused.exit_code == 1 and WORDS in refused.stderr and refused.stdout == ""
    assert _key_count(app) == 0
    good = tmp_path / "good.pem"
    good.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    accepted = runner.invoke(args=["signet", "key", "add", tenant.public_id, "--alg", "RS256", "--file", str(good)])
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["alg"] == "RS256" and _key_count(app) == 1


def test_dashboard_refuses_the_roca_key_and_accepts_a_normal_one(app, owner_client):
    refused = post_form(owner_client, "/settings/keys/public", {"pem": ROCA_PEM, "alg": "RS256"}, page="/settings/keys")
    assert refused.status_code == 400
    assert WORDS in refused.get_data(as_text=True)
    assert _key_count(app) == 0
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    accepted = post_form(owner_client, "/settings/keys/public", {"pem": pem, "alg": "PS256"}, page="/settings/keys")
    assert accepted.status_code == 302 and _key_count(app) == 1
