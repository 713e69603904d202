"""verify_token: every refusal with its exact contract code, in the contract's order."""
from __future__ import annotations

import dataclasses
import json
import random

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from webapp.errors import http_status
from webapp.identity.errors import TokenRefused
from webapp.identity.keys import parse_public_key
from webapp.identity.verifier import (
    EXPLANATIONS,
    Policy,
    VerificationKey,
    VerifiedToken,
    candidate_keys,
    explain,
    inspect_token,
    verify_token,
)

from .conftest import (
    DROP,
    NOW,
    POLICY,
    TENANT,
    b64url,
    b64url_decode,
    claims,
    hs256,
    part,
    resign,
    unsigned,
)

ALL = ("HS256", "EdDSA", "ES256", "PS256", "RS256")


def code_of(token: object, keys, policy: Policy = POLICY, now: float = NOW) -> str:
    """The contract code a token is refused with (fails the test if it is accepted)."""
    with pytest.raises(TokenRefused) as caught:
        verify_token(token, keys=keys, policy=policy, now=now)
    assert http_status(caught.value) == 401
    return caught.value.code


def accept(token: str, keys, policy: Policy = POLICY, now: float = NOW) -> VerifiedToken:
    return verify_token(token, keys=keys, policy=policy, now=now)


# --- valid tokens -------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ALL)
@pytest.mark.parametrize("with_kid", [True, False])
def test_valid_token_is_accepted_for_every_algorithm(signers, all_keys, alg, with_kid):
    signer = signers[alg]
    verified = accept(signer.sign(claims(jti="j-1"), kid=with_kid), all_keys)
    assert (verified.alg, verified.kid, verified.jti) == (alg, signer.kid, "j-1")
    assert verified.exp == NOW + 600
    assert verified.claims["id"] == "user-1"
    assert verified.header["alg"] == alg


@pytest.mark.parametrize(
    "name, alg",
    [("ed25519", "EdDSA"), ("p256", "ES256"), ("rsa", "RS256"), ("rsa", "PS256"),
     ("rsa-pss", "PS256"), ("rsa-pss-sha256", "PS256")],
)
@pytest.mark.parametrize("with_kid", [True, False])
def test_openssl_made_keys_verify(openssl_keys, name, alg, with_kid):
    private, public_pem, _ = openssl_keys[name]
    key = VerificationKey("key_openssl", alg, parse_public_key(public_pem, alg).key)
    headers = {"kid": "key_openssl"} if with_kid else None
    token = jwt.encode(claims(), private, algorithm=alg, headers=headers)
    assert accept(token, [key]).kid == "key_openssl"


def test_rsa_pss_key_refuses_rs256_tokens(openssl_keys):
    private, public_pem, _ = openssl_keys["rsa-pss"]
    key = VerificationKey("key_pss", "PS256", parse_public_key(public_pem, None).key)
    token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "key_pss"})
    assert code_of(token, [key]) == "token_algorithm_not_allowed"
    token = jwt.encode(claims(), private, algorithm="RS256")
    assert code_of(token, [key]) == "token_unknown_key"


def test_without_kid_every_key_of_the_algorithm_is_tried(signers, strangers):
    old, new = strangers["ES256"].vkey, signers["ES256"].vkey
    verified = accept(signers["ES256"].sign(claims(), kid=False), [old, new])
    assert verified.kid == new.kid


def _es256_keys(count: int, in_grace: tuple[int, ...] = ()) -> list[tuple[object, VerificationKey]]:
    """`count` ES256 keys, newest first (as keyring hands them over); (private key, vkey) pairs."""
    made = []
    for index in range(count):
        private = ec.generate_private_key(ec.SECP256R1())
        made.append((private, VerificationKey(f"key_{index}", "ES256", private.public_key(),
                                              in_grace=index in in_grace)))
    return made


def test_normal_rotation_works_without_kid():
    """One active key and one in grace (or two added side by side): both tried, as §4 promises."""
    for in_grace in ((1,), ()):
        (new, new_key), (old, old_key) = _es256_keys(2, in_grace)
        for private, expected in ((new, new_key), (old, old_key)):
            assert accept(jwt.encode(claims(), private, algorithm="ES256"), [new_key, old_key]).kid == expected.kid


def test_without_kid_at_most_the_newest_active_and_newest_in_grace_key_are_tried():
    """Finding 7: three live ES256 keys and a token without kid signed by the third (oldest):
    token_unknown_key saying why, not a signature check per key. With its kid it verifies."""
    made = _es256_keys(3, in_grace=(1, 2))
    keys = [vkey for _, vkey in made]
    assert candidate_keys({"alg": "ES256"}, keys) == [keys[0], keys[1]]
    oldest = made[2][0]
    with pytest.raises(TokenRefused) as caught:
        accept(jwt.encode(claims(), oldest, algorithm="ES256"), keys)
    assert caught.value.code == "token_unknown_key"
    assert "more than 2 live ES256 keys" in caught.value.message and "kid" in caught.value.message
    assert accept(jwt.encode(claims(), oldest, algorithm="ES256", headers={"kid": "key_2"}), keys).kid == "key_2"
    for private, vkey in made[:2]:  # the two tried still verify without kid
        assert accept(jwt.encode(claims(), private, algorithm="ES256"), keys).kid == vkey.kid


def test_without_kid_the_newest_in_grace_key_is_tried_even_after_older_active_ones():
    made = _es256_keys(4, in_grace=(2, 3))  # two active (newest first), then two in grace
    keys = [vkey for _, vkey in made]
    assert candidate_keys({"alg": "ES256"}, keys) == [keys[0], keys[2]]
    assert code_of(jwt.encode(claims(), made[1][0], algorithm="ES256"), keys) == "token_unknown_key"


def test_without_kid_and_every_key_in_one_state_the_two_newest_are_tried():
    for in_grace in ((), (0, 1, 2)):
        made = _es256_keys(3, in_grace)
        keys = [vkey for _, vkey in made]
        assert candidate_keys({"alg": "ES256"}, keys) == keys[:2]
        assert code_of(jwt.encode(claims(), made[2][0], algorithm="ES256"), keys) == "token_unknown_key"


def test_a_junk_token_without_kid_costs_at_most_two_signature_checks(monkeypatch, signers):
    from webapp.identity import verifier

    made = _es256_keys(3) + [(None, signers["RS256"].vkey)]
    keys = [vkey for _, vkey in made]
    checked = []
    real = verifier._signature_verifies
    monkeypatch.setattr(verifier, "_signature_verifies",
                        lambda signed, raw, key: checked.append(key.kid) or real(signed, raw, key))
    junk = unsigned({"alg": "ES256"}, claims(), b"x" * 64)
    assert code_of(junk, keys) == "token_unknown_key"
    assert checked == ["key_0", "key_1"]  # all three are active: the two newest
    checked.clear()
    assert code_of(unsigned({"alg": "ES256", "kid": "key_2"}, claims(), b"x" * 64), keys) == "token_bad_signature"
    assert checked == ["key_2"]  # with kid: exactly that key


def test_candidate_keys(signers, all_keys):
    assert candidate_keys({"alg": "RS256"}, all_keys) == [signers["RS256"].vkey]
    hs = signers["HS256"]
    assert candidate_keys({"alg": "HS256", "kid": hs.kid}, all_keys) == [hs.vkey]
    with pytest.raises(TokenRefused) as caught:
        candidate_keys({"alg": "EdDSA", "kid": hs.kid}, all_keys)
    assert caught.value.code == "token_algorithm_not_allowed"


# --- algorithms ---------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused_in_every_spelling(all_keys, alg):
    assert code_of(unsigned({"alg": alg}, claims()), all_keys) == "token_algorithm_not_allowed"
    assert code_of(unsigned({"alg": alg, "kid": "sec_ours"}, claims()), all_keys) == (
        "token_algorithm_not_allowed"
    )
    # The usual unsecured JWS has an empty signature: not even the compact shape.
    stripped = f"{part({'alg': alg})}.{part(claims())}."
    assert code_of(stripped, all_keys) == "token_malformed"


@pytest.mark.parametrize(
    "alg", ["HS384", "HS512", "ES384", "ES512", "RS384", "RS512", "PS512", "ES256K",
            "Ed25519", "eddsa", "hs256", "", None, 256, ["HS256"], {"HS256": 1}],
)
def test_other_algorithms_are_refused(all_keys, alg):
    assert code_of(unsigned({"alg": alg}, claims()), all_keys) == "token_algorithm_not_allowed"


def test_missing_alg_is_refused(all_keys):
    assert code_of(unsigned({"typ": "JWT"}, claims()), all_keys) == "token_algorithm_not_allowed"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_longer_hmac_signed_with_our_secret_is_refused(signers, all_keys, alg):
    token = jwt.encode(claims(), signers["HS256"].private.encode(), algorithm=alg)
    assert code_of(token, all_keys) == "token_algorithm_not_allowed"


@pytest.mark.parametrize("victim", ["RS256", "PS256", "ES256", "EdDSA"])
def test_public_key_used_as_hmac_secret_is_refused(signers, victim):
    """Algorithm confusion: HS256 'signed' with the public key's PEM text."""
    signer = signers[victim]
    pem = signer.public_pem.encode()
    public_only = [signer.vkey]
    assert code_of(hs256({"alg": "HS256"}, claims(), pem), public_only) == "token_unknown_key"
    with_kid = hs256({"alg": "HS256", "kid": signer.kid}, claims(), pem)
    assert code_of(with_kid, public_only) == "token_algorithm_not_allowed"
    with_secret = public_only + [signers["HS256"].vkey]
    assert code_of(hs256({"alg": "HS256"}, claims(), pem), with_secret) == "token_bad_signature"
    # Even a tenant secret that *is* a PEM text never verifies (PyJWT refuses PEM HMAC keys).
    pem_secret = [VerificationKey("sec_pem", "HS256", pem)]
    assert code_of(hs256({"alg": "HS256"}, claims(), pem), pem_secret) == "token_bad_signature"


def test_rs256_signature_relabelled_ps256(signers):
    """Header alg changed RS256→PS256 (the signature is kept, so it no longer matches).

    With a kid naming the RS256 key: token_algorithm_not_allowed (the kid's key is pinned to
    RS256). Without a kid and no PS256 key: token_unknown_key. With a PS256 key live, or the
    same RSA key pinned to PS256: token_bad_signature (a PKCS#1 v1.5 signature is not PSS).
    """
    rs = signers["RS256"]
    head, body, sig = rs.sign(claims()).split(".")
    relabelled = f"{part({'alg': 'PS256', 'typ': 'JWT', 'kid': rs.kid})}.{body}.{sig}"
    assert code_of(relabelled, [rs.vkey]) == "token_algorithm_not_allowed"
    no_kid = f"{part({'alg': 'PS256', 'typ': 'JWT'})}.{body}.{sig}"
    assert code_of(no_kid, [rs.vkey]) == "token_unknown_key"
    assert code_of(no_kid, [rs.vkey, signers["PS256"].vkey]) == "token_bad_signature"
    same_key_as_ps = VerificationKey(rs.kid, "PS256", rs.vkey.key)
    assert code_of(relabelled, [same_key_as_ps]) == "token_bad_signature"
    assert code_of(f"{head}.{body}.{sig}", [same_key_as_ps]) == "token_algorithm_not_allowed"


# --- keys ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ALL)
def test_tampered_payload_is_refused(signers, all_keys, alg):
    head, _, sig = signers[alg].sign(claims()).split(".")
    forged = f"{head}.{part(claims(id='admin'))}.{sig}"
    assert code_of(forged, all_keys) == "token_bad_signature"


@pytest.mark.parametrize("alg", ALL)
def test_tampered_signature_is_refused(signers, all_keys, alg):
    head, body, sig = signers[alg].sign(claims()).split(".")
    raw = bytearray(b64url_decode(sig))
    raw[len(raw) // 2] ^= 0x01
    assert code_of(f"{head}.{body}.{b64url(bytes(raw))}", all_keys) == "token_bad_signature"


@pytest.mark.parametrize("alg", ALL)
def test_another_keys_signature_is_refused(signers, strangers, all_keys, alg):
    stranger = strangers[alg]
    assert code_of(stranger.sign(claims(), kid=False), all_keys) == "token_bad_signature"
    posing = stranger.sign(claims(), headers={"kid": signers[alg].kid})
    assert code_of(posing, all_keys) == "token_bad_signature"
    # Another tenant's key, named by its own kid, is simply not one of ours.
    assert code_of(stranger.sign(claims()), all_keys) == "token_unknown_key"


def test_no_key_of_the_tokens_algorithm(signers):
    token = signers["EdDSA"].sign(claims(), kid=False)
    assert code_of(token, [signers["HS256"].vkey, signers["RS256"].vkey]) == "token_unknown_key"
    assert code_of(token, []) == "token_unknown_key"


@pytest.mark.parametrize(
    "kid",
    ["../../etc/passwd", "' OR 1=1 --", "", "KEY_OURS_ED", " key_ours_ed", "key_ours_ed\x00", "*"],
)
def test_kid_must_match_exactly(signers, all_keys, kid):
    token = signers["EdDSA"].sign(claims(), headers={"kid": kid})
    assert code_of(token, all_keys) == "token_unknown_key"


@pytest.mark.parametrize("kid", [123, None, ["key_ours_ed"], {"kid": "key_ours_ed"}, True])
def test_kid_must_be_a_string(signers, all_keys, kid):
    token = unsigned({"alg": "EdDSA", "kid": kid}, claims())
    assert code_of(token, all_keys) == "token_malformed"


def _attacker_jwk(private) -> dict:
    return json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))


def test_embedded_jwk_is_never_used(signers, strangers):
    attacker = strangers["ES256"]
    jwk_header = {"jwk": _attacker_jwk(attacker.private)}
    ours = [signers["ES256"].vkey]
    forged = attacker.sign(claims(), kid=False, headers=jwk_header)
    assert code_of(forged, ours) == "token_bad_signature"
    assert code_of(forged, [signers["HS256"].vkey]) == "token_unknown_key"
    posing = attacker.sign(claims(), headers={**jwk_header, "kid": signers["ES256"].kid})
    assert code_of(posing, ours) == "token_bad_signature"
    # The header is ignored, not refused: our own key's token still verifies.
    genuine = signers["ES256"].sign(claims(), headers=jwk_header)
    assert accept(genuine, ours).kid == signers["ES256"].kid


@pytest.mark.parametrize(
    "extra",
    [{"jku": "https://attacker.example/jwks.json"}, {"x5u": "https://attacker.example/cert.pem"},
     {"x5c": ["MIIBszCCAVmgAwIBAgIUQ"]}],
)
def test_key_url_and_certificate_headers_are_never_used(signers, strangers, all_keys, extra):
    attacker = strangers["RS256"]
    forged = attacker.sign(claims(), kid=False, headers=extra)
    assert code_of(forged, all_keys) == "token_bad_signature"
    assert code_of(attacker.sign(claims(), headers=extra), all_keys) == "token_unknown_key"
    assert accept(signers["RS256"].sign(claims(), headers=extra), all_keys).alg == "RS256"


def test_crit_header_is_refused(signers, all_keys):
    hs = signers["HS256"]
    for crit in (["exp"], ["b64"], [], "b64"):
        token = hs.sign(claims(), headers={"crit": crit, "exp": NOW + 600})
        assert code_of(token, all_keys) == "token_malformed"


def test_unencoded_payload_header_is_refused(signers, all_keys):
    token = resign(signers["HS256"].sign(claims()), signers["HS256"],
                   header={"alg": "HS256", "b64": False})
    assert code_of(token, all_keys) == "token_malformed"
    assert code_of(unsigned({"alg": "none", "b64": False}, claims()), all_keys) == "token_malformed"


def test_es256_signature_must_be_raw_r_and_s(signers, all_keys):
    es = signers["ES256"]
    head, body, _ = es.sign(claims()).split(".")
    zero = f"{head}.{body}.{b64url(bytes(64))}"
    assert code_of(zero, all_keys) == "token_bad_signature"
    der = es.private.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    assert code_of(f"{head}.{body}.{b64url(der)}", all_keys) == "token_bad_signature"
    assert code_of(f"{head}.{body}.{b64url(bytes(63))}", all_keys) == "token_bad_signature"


@pytest.mark.parametrize("alg", ["EdDSA", "PS256", "RS256"])
@pytest.mark.parametrize("length", [1, 63, 65, 255, 257, 1024])
def test_signature_of_the_wrong_length_is_refused(signers, all_keys, alg, length):
    head, body, _ = signers[alg].sign(claims()).split(".")
    assert code_of(f"{head}.{body}.{b64url(bytes(length))}", all_keys) == "token_bad_signature"


@pytest.mark.parametrize("secret", [b"", b"x", b"s" * 31])
def test_empty_or_short_hmac_secret_never_verifies(secret):
    key = VerificationKey("sec_short", "HS256", secret)
    for header in ({"alg": "HS256"}, {"alg": "HS256", "kid": "sec_short"}):
        assert code_of(hs256(header, claims(), secret), [key]) == "token_bad_signature"


def test_hmac_secret_of_32_bytes_verifies():
    key = VerificationKey("sec_32", "HS256", b"s" * 32)
    assert accept(hs256({"alg": "HS256"}, claims(), b"s" * 32), [key]).kid == "sec_32"


def test_secret_is_used_as_utf8_text_not_base64_decoded(signers, all_keys):
    hs = signers["HS256"]
    decoded = b64url_decode(hs.private.removeprefix("sk_"))
    assert code_of(hs256({"alg": "HS256"}, claims(), decoded), all_keys) == "token_bad_signature"


def test_another_tenants_secret_is_refused(signers, strangers):
    ours, theirs = [signers["HS256"].vkey], strangers["HS256"]
    assert code_of(theirs.sign(claims()), ours) == "token_unknown_key"
    assert code_of(theirs.sign(claims(), kid=False), ours) == "token_bad_signature"


def test_mismatched_key_objects_never_verify(signers):
    """A key row whose object does not fit its algorithm is never used to verify."""
    rs, ed = signers["RS256"], signers["EdDSA"]
    wrong = VerificationKey(rs.kid, "RS256", ed.vkey.key)
    assert code_of(rs.sign(claims()), [wrong]) == "token_bad_signature"
    as_text = VerificationKey(rs.kid, "RS256", rs.public_pem)
    assert code_of(rs.sign(claims()), [as_text]) == "token_bad_signature"


# --- shape and JSON -----------------------------------------------------------------------

@pytest.mark.parametrize(
    "token",
    [None, 123, b"a.b.c", ["a", "b", "c"], {"jwt": "a.b.c"}, "", "abc", "a.b", "a.b.c.d",
     "a..c", ".b.c", "a.b.", "a.b.c ", " a.b.c", "a.b.c\n", "a.b+.c", "a.b/.c", "a.b.c=",
     "a\u00e9.b.c", "a.b.c.", "eyJ.e30.a%3D"],
)
def test_not_a_compact_jws_is_malformed(all_keys, token):
    assert code_of(token, all_keys) == "token_malformed"


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_padded_segments_are_malformed(signers, all_keys, segment):
    parts = signers["HS256"].sign(claims()).split(".")
    parts[segment] += "=" * (-len(parts[segment]) % 4 or 4)
    assert code_of(".".join(parts), all_keys) == "token_malformed"


def test_non_canonical_base64url_is_malformed(signers, all_keys):
    """Unused trailing bits set: the same bytes under another spelling are refused."""
    tokens = (signers["HS256"].sign(claims(pad="x" * n)) for n in range(3))
    head, body, sig = next(t for t in tokens if len(t.split(".")[1]) % 4).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = next(
        body[:-1] + c for c in alphabet
        if c != body[-1] and b64url_decode(body[:-1] + c) == b64url_decode(body)
    )
    assert code_of(f"{head}.{twin}.{sig}", all_keys) == "token_malformed"
    # Checked before the algorithm: refused as malformed even when alg is not allowed.
    header = part({"alg": "none"})
    header_twin = next(
        header[:-1] + c for c in alphabet
        if c != header[-1] and b64url_decode(header[:-1] + c) == b64url_decode(header)
    )
    assert code_of(f"{header_twin}.{body}.{sig}", all_keys) == "token_malformed"


def test_size_limit_is_8_kib(signers, all_keys):
    tokens = [signers["HS256"].sign(claims(pad="x" * n)) for n in range(5950, 6050)]
    largest_ok = max((t for t in tokens if len(t) <= 8192), key=len)
    smallest_too_big = min((t for t in tokens if len(t) > 8192), key=len)
    assert len(largest_ok) > 8185 and accept(largest_ok, all_keys)
    assert code_of(smallest_too_big, all_keys) == "token_malformed"
    assert code_of("a" * 10_000_000, all_keys) == "token_malformed"


@pytest.mark.parametrize(
    "header",
    [b"not json", b"[1, 2]", b'"HS256"', b"null", b"\xff\xfe{}", b'\xef\xbb\xbf{"alg":"HS256"}',
     b'{"alg":"HS256","alg":"none"}', b'{"alg":"HS256",}', b'{"alg":"HS256"} x', b""],
)
def test_header_must_be_a_strict_json_object(signers, all_keys, header):
    hs = signers["HS256"]
    token = hs256(header, claims(), hs.vkey.key) if header else f".{part(claims())}.c2ln"
    assert code_of(token, all_keys) == "token_malformed"


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1]", b"123", b"\xc3\x28", b'{"exp": 1800000600, "exp": 1800000600}',
     b'{"exp": NaN}', b'{"exp": Infinity}', b'{"exp": -Infinity}',
     b'{"id": "\\ud800", "exp": 1800000600}', b'{"exp": 1800000600, "nested": {"a": 1, "a": 2}}',
     b'{"exp": 1800000600, "attrs": {"x": NaN}}'],
)
def test_claims_must_be_a_strict_json_object(signers, all_keys, payload):
    assert code_of(sign_claims(signers, payload), all_keys) == "token_malformed"


def test_deeply_nested_claims_are_malformed_not_a_crash(signers, all_keys):
    payload = b'{"exp": 1800000600, "x": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    token = hs256({"alg": "HS256"}, payload, signers["HS256"].vkey.key)
    assert code_of(token, all_keys) == "token_malformed"


# --- claims -------------------------------------------------------------------------------

def sign_claims(signers, payload: object) -> str:
    return hs256({"alg": "HS256"}, payload, signers["HS256"].vkey.key)


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"exp": DROP}, "token_missing_exp"),
        ({"exp": NOW - 61}, "token_expired"),
        ({"exp": NOW - 60}, "token_expired"),
        ({"exp": str(int(NOW + 600))}, "token_malformed"),
        ({"exp": True}, "token_malformed"),
        ({"exp": 253402300800}, "token_malformed"),
        ({"exp": -1}, "token_malformed"),
        ({"exp": [NOW + 600]}, "token_malformed"),
        ({"exp": {"at": NOW}}, "token_malformed"),
        ({"nbf": NOW + 61}, "token_not_yet_valid"),
        ({"iat": NOW + 61}, "token_not_yet_valid"),
        ({"nbf": "0"}, "token_malformed"),
        ({"iat": False}, "token_malformed"),
        ({"iat": 253402300800}, "token_malformed"),
        ({"aud": "someone-else"}, "token_bad_audience"),
        ({"aud": ["a", "b"]}, "token_bad_audience"),
        ({"aud": []}, "token_bad_audience"),
        ({"aud": 1}, "token_bad_audience"),
        ({"aud": ["signet-widget", 1]}, "token_bad_audience"),
        ({"tid": "t_other"}, "token_wrong_tenant"),
        ({"tid": 1}, "token_wrong_tenant"),
        ({"jti": ""}, "token_malformed"),
        ({"jti": "j" * 256}, "token_malformed"),
        ({"jti": 123}, "token_malformed"),
        ({"jti": ["j"]}, "token_malformed"),
        ({"sub": "user-2"}, "token_malformed"),
        ({"sub": True}, "token_malformed"),
        ({"sub": 1.5}, "token_malformed"),
        ({"sub": {"id": "user-1"}}, "token_malformed"),
        ({"id": DROP, "user": {"id": "user-2"}, "sub": "user-1"}, "token_malformed"),
        ({"id": None, "sub": "user-1"}, "token_malformed"),
    ],
)
def test_claim_rules(signers, all_keys, changes, code):
    assert code_of(signers["HS256"].sign(claims(**changes)), all_keys) == code


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": NOW - 59},
        {"exp": 253402300799},
        {"exp": NOW + 0.5},
        {"nbf": NOW + 60, "iat": NOW + 60},
        {"nbf": 0, "iat": 0},
        {"aud": "signet-widget"},
        {"aud": ["other", "signet-widget"]},
        {"tid": TENANT},
        {"jti": "j"},
        {"jti": "j" * 255},
        {"sub": "user-1"},
        {"id": 123, "sub": "123"},
        {"id": "123", "sub": 123},
        {"id": DROP, "user": {"id": "u-9"}, "sub": "u-9"},
        {"id": DROP, "sub": "user-1", "user": None},
        {"iss": "anyone"},
    ],
)
def test_claims_accepted(signers, all_keys, changes):
    verified = accept(signers["HS256"].sign(claims(**changes)), all_keys)
    assert verified.claims == json.loads(json.dumps(claims(**changes)))


def test_exp_nan_and_huge_numbers_in_raw_json_are_malformed(signers, all_keys):
    huge = b"1" + b"0" * 400  # an integer JSON parses but no float holds: math.isfinite would raise
    for raw in (b'{"exp": NaN}', b'{"exp": 1e400}', b'{"exp": 1' + b"0" * 5000 + b"}", b'{"exp": ' + huge + b"}",
                b'{"exp": -' + huge + b"}", b'{"exp": 1, "nbf": ' + huge + b"}", b'{"exp": 1, "iat": ' + huge + b"}"):
        assert code_of(sign_claims(signers, raw), all_keys) == "token_malformed"


def test_leeway_comes_from_the_policy(signers, all_keys):
    token = signers["HS256"].sign(claims(exp=NOW - 5))
    assert code_of(token, all_keys, policy=dataclasses.replace(POLICY, leeway=0)) == "token_expired"
    assert accept(token, all_keys).exp == NOW - 5


def test_required_audience(signers, all_keys):
    policy = dataclasses.replace(POLICY, require_audience=True, audience="acme-app")
    hs = signers["HS256"]
    assert code_of(hs.sign(claims()), all_keys, policy) == "token_bad_audience"
    assert code_of(hs.sign(claims(aud="signet-widget")), all_keys, policy) == "token_bad_audience"
    assert accept(hs.sign(claims(aud=["acme-app"])), all_keys, policy)


def test_pinned_issuer(signers, all_keys):
    policy = dataclasses.replace(POLICY, issuer="https://acme.example")
    hs = signers["HS256"]
    assert code_of(hs.sign(claims()), all_keys, policy) == "token_bad_issuer"
    evil = hs.sign(claims(iss="https://evil.example"))
    assert code_of(evil, all_keys, policy) == "token_bad_issuer"
    listed = hs256({"alg": "HS256"}, claims(iss=["https://acme.example"]), hs.vkey.key)
    assert code_of(listed, all_keys, policy) == "token_bad_issuer"
    assert accept(hs.sign(claims(iss="https://acme.example")), all_keys, policy)


def test_jti_is_returned_not_checked_for_replay(signers, all_keys):
    token = signers["HS256"].sign(claims(jti="once"))
    assert accept(token, all_keys).jti == accept(token, all_keys).jti == "once"
    assert accept(signers["HS256"].sign(claims()), all_keys).jti is None


# --- order: the first failing check in the table's order answers --------------------------

@pytest.mark.parametrize(
    "header, changes, code",
    [
        ({"alg": "none", "crit": ["x"]}, {}, "token_malformed"),
        ({"alg": "none"}, {"jti": ""}, "token_malformed"),
        ({"alg": "none", "kid": 7}, {}, "token_malformed"),
        ({"alg": "HS512"}, {"exp": "soon"}, "token_malformed"),
        ({"alg": "none", "kid": "nope"}, {}, "token_algorithm_not_allowed"),
        ({"alg": "HS256", "kid": "nope"}, {"exp": DROP}, "token_unknown_key"),
        ({"alg": "HS256"}, {"exp": DROP, "aud": "x"}, "token_bad_signature"),
    ],
)
def test_checks_before_the_signature_come_in_table_order(all_keys, header, changes, code):
    assert code_of(unsigned(header, claims(**changes)), all_keys) == code


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"exp": DROP, "nbf": NOW + 999, "aud": "x"}, "token_missing_exp"),
        ({"exp": NOW - 999, "nbf": NOW + 999, "aud": "x"}, "token_expired"),
        ({"nbf": NOW + 999, "aud": "x", "iss": "x", "tid": "x"}, "token_not_yet_valid"),
        ({"aud": "x", "iss": "x", "tid": "x"}, "token_bad_audience"),
        ({"iss": "x", "tid": "x"}, "token_bad_issuer"),
    ],
)
def test_checks_after_the_signature_come_in_table_order(signers, all_keys, changes, code):
    policy = dataclasses.replace(POLICY, issuer="https://acme.example")
    assert code_of(signers["HS256"].sign(claims(**changes)), all_keys, policy) == code


def test_odd_inputs_raise_only_token_errors(signers, all_keys):
    """Random single-character mutations of valid tokens: accepted or TokenRefused, never else."""
    rng = random.Random(8725)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    seen = set()
    for alg in ALL:
        token = signers[alg].sign(claims())
        for _ in range(150):
            i = rng.randrange(len(token))
            mutated = token[:i] + rng.choice(alphabet) + token[i + 1:]
            try:
                verify_token(mutated, keys=all_keys, policy=POLICY, now=NOW)
                seen.add("accepted")
            except TokenRefused as err:
                seen.add(err.code)
    assert {"token_malformed", "token_bad_signature"} <= seen


# --- known answers (RFC 8037 A.4, RFC 7520 §4.4): the signature layer --------------------

RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC7520_K = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
RFC7520_JWS = (
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9."
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250"
    "byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcg"
    "d2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4."
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0"
)


def rfc8037_key() -> VerificationKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(b64url_decode(RFC8037_X))
    return VerificationKey("rfc8037", "EdDSA", public)


def rfc7520_key() -> VerificationKey:
    kid = "018c0ae5-4d9b-471b-bfd6-eef314bc7037"
    return VerificationKey(kid, "HS256", b64url_decode(RFC7520_K))


def flip_last_signature_char(token: str) -> str:
    return token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]


def signature_layer(token: str, key: VerificationKey) -> tuple[dict, bytes]:
    """The signature layer alone, as the verifier runs it: (header, payload) when `key` signed `token`."""
    from webapp.identity import jose
    from webapp.identity.verifier import _verifying_key

    assert _verifying_key(token, [key]) is key  # raises TokenRefused when the signature does not verify
    head, payload, _sig = token.split(".")
    return jose.decode_segment(head, "header"), jose.b64url_decode(payload, "payload")


def test_rfc8037_a4_ed25519_signature():
    header, payload = signature_layer(RFC8037_JWS, rfc8037_key())
    assert header == {"alg": "EdDSA"} and payload == b"Example of Ed25519 signing"
    with pytest.raises(TokenRefused) as caught:
        signature_layer(flip_last_signature_char(RFC8037_JWS), rfc8037_key())
    assert caught.value.code == "token_bad_signature"
    head, _, sig = RFC8037_JWS.split(".")
    tampered_payload = f"{head}.{b64url('Example of Ed25519 signinG')}.{sig}"
    with pytest.raises(TokenRefused) as caught:
        signature_layer(tampered_payload, rfc8037_key())
    assert caught.value.code == "token_bad_signature"
    # Its payload is text, not a claims object: as user data it is malformed.
    assert code_of(RFC8037_JWS, [rfc8037_key()]) == "token_malformed"


def test_rfc7520_4_4_hs256_signature():
    header, payload = signature_layer(RFC7520_JWS, rfc7520_key())
    assert header["kid"] == "018c0ae5-4d9b-471b-bfd6-eef314bc7037"
    assert payload.decode("utf-8").startswith("It\u2019s a dangerous business, Frodo")
    with pytest.raises(TokenRefused) as caught:
        signature_layer(flip_last_signature_char(RFC7520_JWS), rfc7520_key())
    assert caught.value.code == "token_bad_signature"
    assert code_of(RFC7520_JWS, [rfc7520_key()]) == "token_malformed"


def test_signature_layer_refuses_what_does_not_fit_the_pinned_algorithm(strangers):
    """A key of another type, a short HMAC secret, a PEM given as an HMAC secret, a signature of
    the wrong length: each verifies nothing (token_bad_signature), none raises anything else."""
    from webapp.identity.verifier import _verifying_key

    ed = rfc8037_key()
    for key in (VerificationKey("k", "ES256", ed.key), VerificationKey("k", "HS256", b"short"),
                VerificationKey("k", "HS256", b"-----BEGIN PUBLIC KEY-----" + b"x" * 64),
                VerificationKey("k", "RS256", strangers["ES256"].vkey.key), VerificationKey("k", "none", b"x" * 64)):
        with pytest.raises(TokenRefused) as caught:
            _verifying_key(RFC8037_JWS, [key])
        assert caught.value.code == "token_bad_signature"
    head, payload, sig = RFC8037_JWS.split(".")
    with pytest.raises(TokenRefused) as caught:
        _verifying_key(f"{head}.{payload}.{sig[:40]}", [ed])
    assert caught.value.code == "token_bad_signature"


# --- debugger helpers ---------------------------------------------------------------------

def test_inspect_token_decodes_without_verifying(strangers):
    token = strangers["ES256"].sign(claims(jti="x"))
    seen = inspect_token(token)
    assert seen["error"] is None
    assert seen["header"] == {"alg": "ES256", "typ": "JWT", "kid": strangers["ES256"].kid}
    assert seen["claims"]["jti"] == "x"


def test_inspect_token_reports_what_it_cannot_decode():
    seen = inspect_token(RFC8037_JWS)
    assert seen["header"] == {"alg": "EdDSA"} and seen["claims"] is None and seen["error"]
    for junk in (None, 42, "", "a.b", "a.b.c=", "x" * 9000, unsigned(b"[]", claims())):
        seen = inspect_token(junk)
        assert seen["header"] is None and seen["claims"] is None
        assert isinstance(seen["error"], str) and seen["error"]


def test_explain_covers_every_token_code():
    codes = {
        "token_malformed", "token_algorithm_not_allowed", "token_unknown_key",
        "token_bad_signature",
        "token_missing_exp", "token_expired", "token_not_yet_valid", "token_bad_audience",
        "token_bad_issuer", "token_wrong_tenant", "token_replayed",
    }
    assert set(EXPLANATIONS) == codes
    sentences = [explain(code) for code in codes]
    assert len(set(sentences)) == len(codes) and all(s.endswith(".") for s in sentences)
    assert explain("no_such_code") == "The token was refused."
