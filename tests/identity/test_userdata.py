"""User data rules (API.md §3 field table, §4 token payloads, §5 login-link payloads)."""
from __future__ import annotations

import math

import pytest

from webapp.errors import http_status
from webapp.identity.errors import FieldRefused, Refused
from webapp.identity.userdata import (
    MISSING, LoginOnly, NoLoginTarget, OrgData, UserData, classify_body, is_safe_https_url,
    is_valid_email, parse_claims, parse_login_payload, parse_unsigned,
)

EMAIL_254 = "a" * (254 - len("@example.com")) + "@example.com"
URL_2048 = "https://example.com/" + "a" * (2048 - len("https://example.com/"))


def user(**fields: object) -> dict:
    """An unsigned body with a valid id plus the given fields."""
    return {"id": "user-1", **fields}


def org(org_id: object = "org-1", name: object = "Acme", **more: object) -> dict:
    return {"id": org_id, "name": name, **more}


def orgs(count: int) -> list[dict]:
    return [org(f"org-{i}", f"Org {i}") for i in range(count)]


def attrs(count: int) -> dict:
    return {f"k{i}": i for i in range(count)}


def refused(parse, payload: object, code: str, field: str | None) -> FieldRefused:
    with pytest.raises(FieldRefused) as caught:
        parse(payload)
    assert (caught.value.code, caught.value.field) == (code, field), caught.value.message
    assert caught.value.message
    return caught.value


# --- the field table: at the limit (accepted) ----------------------------------------------

@pytest.mark.parametrize(("body", "attr", "expected"), [
    ({"id": "x"}, "id", "x"),
    ({"id": "x" * 255}, "id", "x" * 255),
    ({"id": " spaced "}, "id", " spaced "),
    ({"id": 123}, "id", "123"),
    ({"id": 0}, "id", "0"),
    ({"id": -7}, "id", "-7"),
    ({"id": 10 ** 254}, "id", "1" + "0" * 254),
    ({"id": None}, "id", None),
    (user(email="a@b"), "email", "a@b"),
    (user(email="Jane.Doe+tag@Example.co.uk"), "email", "Jane.Doe+tag@Example.co.uk"),
    (user(email="!#$%&'*+/=?^_`{|}~-@x-y.z"), "email", "!#$%&'*+/=?^_`{|}~-@x-y.z"),
    (user(email=EMAIL_254), "email", EMAIL_254),
    (user(email=None), "email", None),
    (user(name=""), "name", ""),
    (user(name="n" * 255), "name", "n" * 255),
    (user(name="Zoë 李"), "name", "Zoë 李"),
    (user(name=None), "name", None),
    (user(avatarUrl="https://example.com/a.jpg"), "avatar_url", "https://example.com/a.jpg"),
    (user(avatarUrl="HTTPS://Example.com/a.jpg"), "avatar_url", "HTTPS://Example.com/a.jpg"),
    (user(avatarUrl="https://[::1]:8443/a?s=1#x"), "avatar_url", "https://[::1]:8443/a?s=1#x"),
    (user(avatarUrl=URL_2048), "avatar_url", URL_2048),
    (user(avatarUrl=None), "avatar_url", None),
    (user(attrs=attrs(50)), "attrs", attrs(50)),
    (user(attrs={}), "attrs", {}),
    (user(attrs=None), "attrs", None),
    (user(attrs={"k": 1}), "attrs", {"k": 1}),
    (user(attrs={"k" * 64: 1}), "attrs", {"k" * 64: 1}),
    (user(attrs={"v": "v" * 1024}), "attrs", {"v": "v" * 1024}),
    (user(attrs={"t": True, "f": False, "n": None, "x": 1.5, "i": -3, "z": 0, "s": ""}),
     "attrs", {"t": True, "f": False, "n": None, "x": 1.5, "i": -3, "z": 0, "s": ""}),
    (user(organizations=None), "organizations", ()),
    (user(organizations=[]), "organizations", ()),
])
def test_unsigned_accepts_values_at_the_limit(body: dict, attr: str, expected: object) -> None:
    assert getattr(parse_unsigned(body), attr) == expected


def test_booleans_in_attrs_stay_booleans() -> None:
    parsed = parse_unsigned(user(attrs={"t": True, "one": 1}))
    assert parsed.attrs == {"t": True, "one": 1}
    assert isinstance(parsed.attrs, dict)
    assert type(parsed.attrs["t"]) is bool and type(parsed.attrs["one"]) is int


def test_fields_left_out_are_missing_and_null_is_none() -> None:
    assert parse_unsigned({"id": 5}) == UserData(id="5")
    parsed = parse_unsigned(user(email=None, name=None, avatarUrl=None, attrs=None))
    assert (parsed.email, parsed.name, parsed.avatar_url, parsed.attrs) == (None,) * 4
    assert parsed.organizations is MISSING
    assert repr(MISSING) == "MISSING"


def test_anonymous_visitor() -> None:
    parsed = parse_unsigned({"id": None})
    assert parsed.anonymous and parsed.id is None and parsed.email is MISSING
    assert not parse_unsigned({"id": "u"}).anonymous


# --- the field table: just past the limit (refused) ----------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({}, "id"),
    ({"email": "a@b.c"}, "id"),
    ({"id": ""}, "id"),
    ({"id": "x" * 256}, "id"),
    ({"id": True}, "id"),
    ({"id": False}, "id"),
    ({"id": 1.5}, "id"),
    ({"id": 1.0}, "id"),
    ({"id": math.nan}, "id"),
    ({"id": []}, "id"),
    ({"id": {}}, "id"),
    ({"id": 10 ** 255}, "id"),
    ({"id": 1 << 5000}, "id"),
    (user(email="a" * (255 - len("@example.com")) + "@example.com"), "email"),
    (user(email=""), "email"),
    (user(email="a@b..c"), "email"),
    (user(email="a b@c.d"), "email"),
    (user(email="a@-b.com"), "email"),
    (user(email="a@b-.com"), "email"),
    (user(email="a@b_c.com"), "email"),
    (user(email="a@" + "b" * 64 + ".com"), "email"),
    (user(email="jane"), "email"),
    (user(email="@b.c"), "email"),
    (user(email="a@"), "email"),
    (user(email="a@b.c\n"), "email"),
    (user(email="é@b.c"), "email"),
    (user(email="a@b@c"), "email"),
    (user(email=5), "email"),
    (user(email=["a@b.c"]), "email"),
    (user(name="n" * 256), "name"),
    (user(name=5), "name"),
    (user(name=["x"]), "name"),
    (user(avatarUrl="http://example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl="javascript:alert(1)"), "avatarUrl"),
    (user(avatarUrl="JavaScript://example.com/%0aalert(1)"), "avatarUrl"),
    (user(avatarUrl="data:image/png;base64,AAAA"), "avatarUrl"),
    (user(avatarUrl="/a.jpg"), "avatarUrl"),
    (user(avatarUrl="a.jpg"), "avatarUrl"),
    (user(avatarUrl="//example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://"), "avatarUrl"),
    (user(avatarUrl="https:///a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://:443/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https:example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl=URL_2048 + "a"), "avatarUrl"),
    (user(avatarUrl=" https://example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://exa mple.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://example.com/a.jpg\n"), "avatarUrl"),
    (user(avatarUrl="https://example.com/\ta.jpg"), "avatarUrl"),
    (user(avatarUrl="https://example.com/\u202egpj.exe"), "avatarUrl"),
    (user(avatarUrl="https://user:pw@example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://evil.example\\@good.example/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://example.com:99999/a.jpg"), "avatarUrl"),
    (user(avatarUrl="https://example.com:port/a.jpg"), "avatarUrl"),
    (user(avatarUrl='https://example.com/"onerror="x'), "avatarUrl"),
    (user(avatarUrl="ftp://example.com/a.jpg"), "avatarUrl"),
    (user(avatarUrl=5), "avatarUrl"),
    (user(attrs=attrs(51)), "attrs"),
    (user(attrs="plan=pro"), "attrs"),
    (user(attrs=["plan"]), "attrs"),
    (user(attrs={"": 1}), 'attrs[""]'),
    (user(attrs={"k" * 65: 1}), "attrs." + "k" * 65),
    (user(attrs={"my key": "v" * 1025}), 'attrs["my key"]'),
    (user(attrs={"v": "v" * 1025}), "attrs.v"),
    (user(attrs={"obj": {"a": 1}}), "attrs.obj"),
    (user(attrs={"arr": [1]}), "attrs.arr"),
    (user(attrs={"nan": math.nan}), "attrs.nan"),
    (user(attrs={"inf": math.inf}), "attrs.inf"),
    (user(attrs={"ninf": -math.inf}), "attrs.ninf"),
    (user(organizations="org-1"), "organizations"),
    (user(organizations={"id": 1, "name": "A"}), "organizations"),
    (user(organizations=orgs(11)), "organizations"),
    (user(organizations=["org-1"]), "organizations[0]"),
    (user(organizations=[org(), None]), "organizations[1]"),
    (user(organizations=[{"name": "Acme"}]), "organizations[0].id"),
    (user(organizations=[org(org_id=True)]), "organizations[0].id"),
    (user(organizations=[org(org_id=None)]), "organizations[0].id"),
    (user(organizations=[org(org_id="")]), "organizations[0].id"),
    (user(organizations=[org(org_id="x" * 256)]), "organizations[0].id"),
    (user(organizations=[org(org_id=1.5)]), "organizations[0].id"),
    (user(organizations=[{"id": "o"}]), "organizations[0].name"),
    (user(organizations=[org(name="")]), "organizations[0].name"),
    (user(organizations=[org(name="n" * 256)]), "organizations[0].name"),
    (user(organizations=[org(name=None)]), "organizations[0].name"),
    (user(organizations=[org(name=5)]), "organizations[0].name"),
    (user(organizations=orgs(3) + [org(attrs={"k": {"nested": 1}})]), "organizations[3].attrs.k"),
    (user(organizations=[org(attrs=attrs(51))]), "organizations[0].attrs"),
    (user(organizations=[org(attrs="x")]), "organizations[0].attrs"),
])
def test_unsigned_refuses_values_past_the_limit(body: dict, field: str) -> None:
    refused(parse_unsigned, body, "invalid_field", field)


def test_messages_say_what_is_wrong() -> None:
    error = refused(parse_unsigned, user(attrs=attrs(51)), "invalid_field", "attrs")
    assert error.message == "attrs: at most 50 keys (got 51)"
    error = refused(parse_unsigned, user(organizations=orgs(11)), "invalid_field", "organizations")
    assert error.message == (
        "organizations: at most 10 organizations after removing duplicates (got 11)")
    body = user(organizations=orgs(3) + [org(name="")])
    error = refused(parse_unsigned, body, "invalid_field", "organizations[3].name")
    expected = "organizations[3].name: must be a string of 1 to 255 characters"
    assert error.message.startswith(expected)
    error = refused(parse_unsigned, {"id": True}, "invalid_field", "id")
    assert "got a boolean" in error.message
    assert error.as_dict() == {"code": "invalid_field", "message": error.message, "field": "id"}


def test_non_object_body_is_refused() -> None:
    refused(parse_unsigned, ["id", 1], "invalid_field", None)


# --- U+0000 in every kind of string ----------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"id": "a\x00b"}, "id"),
    (user(email="a\x00@b.c"), "email"),
    (user(name="Jane\x00"), "name"),
    (user(avatarUrl="https://example.com/\x00.jpg"), "avatarUrl"),
    (user(attrs={"k\x00": 1}), 'attrs["k\\u0000"]'),
    (user(attrs={"k": "v\x00"}), "attrs.k"),
    (user(organizations=[org(org_id="o\x00")]), "organizations[0].id"),
    (user(organizations=[org(name="A\x00")]), "organizations[0].name"),
    (user(organizations=[org(attrs={"k": "\x00"})]), "organizations[0].attrs.k"),
])
def test_nul_character_is_refused_everywhere(body: dict, field: str) -> None:
    error = refused(parse_unsigned, body, "invalid_field", field)
    assert "U+0000" in error.message


@pytest.mark.parametrize(("claims", "field"), [
    ({"sub": "u\x00"}, "sub"),
    ({"user": {"id": "u", "plan": "p\x00"}}, "user.plan"),
    ({"user": {"id": "u", "pl\x00n": "p"}}, 'user["pl\\u0000n"]'),
])
def test_nul_character_is_refused_in_tokens(claims: dict, field: str) -> None:
    assert "U+0000" in refused(parse_claims, claims, "invalid_field", field).message


# --- organizations ---------------------------------------------------------------------------

def test_ten_organizations_are_accepted() -> None:
    parsed = parse_unsigned(user(organizations=orgs(10)))
    assert isinstance(parsed.organizations, tuple)
    assert [o.id for o in parsed.organizations] == [f"org-{i}" for i in range(10)]


def test_duplicates_are_removed_before_counting() -> None:
    body = user(organizations=orgs(10) + [org("org-0", "Again"), org("org-5", "Again")])
    parsed = parse_unsigned(body)
    assert isinstance(parsed.organizations, tuple) and len(parsed.organizations) == 10


def test_last_duplicate_wins_and_takes_its_place() -> None:
    body = user(organizations=[org(1, "First", attrs={"a": 1}), org("2", "Two"), org("1", "Last")])
    assert parse_unsigned(body).organizations == (
        OrgData(id="2", name="Two"), OrgData(id="1", name="Last"))


def test_org_attrs_left_out_null_or_given() -> None:
    parsed = parse_unsigned(user(organizations=[
        org("a"), org("b", attrs=None), org("c", attrs={"tier": "gold"})]))
    assert isinstance(parsed.organizations, tuple)
    assert [o.attrs for o in parsed.organizations] == [MISSING, {}, {"tier": "gold"}]


def test_integer_org_ids_are_strings() -> None:
    parsed = parse_unsigned(user(organizations=[org(456, "Acme")]))
    assert parsed.organizations == (OrgData(id="456", name="Acme"),)


# --- unknown fields in unsigned data ----------------------------------------------------------

@pytest.mark.parametrize(("key", "suggestion"), [
    ("avatar_url", "avatarUrl"), ("avatar", "avatarUrl"), ("avatarURL", "avatarUrl"),
    ("picture", "avatarUrl"), ("user_id", "id"), ("userId", "id"), ("external_id", "id"),
    ("uid", "id"), ("mail", "email"), ("emailAddress", "email"), ("email_address", "email"),
    ("full_name", "name"), ("fullName", "name"), ("displayName", "name"),
    ("attributes", "attrs"), ("custom_attributes", "attrs"), ("traits", "attrs"),
    ("metadata", "attrs"), ("orgs", "organizations"), ("companies", "organizations"),
    ("company", "organizations"), ("organisations", "organizations"),
    ("organization", "organizations"), ("emial", "email"), ("Email", "email"),
])
def test_unknown_field_suggests_the_right_name(key: str, suggestion: str) -> None:
    error = refused(parse_unsigned, user(**{key: "x"}), "unknown_field", key)
    assert f'did you mean "{suggestion}"?' in error.message


def test_unknown_field_without_a_close_name_lists_the_fields() -> None:
    error = refused(parse_unsigned, user(zzz=1), "unknown_field", "zzz")
    assert "id, email, name, avatarUrl, attrs, organizations" in error.message
    refused(parse_unsigned, user(**{"odd key": 1}), "unknown_field", '["odd key"]')


@pytest.mark.parametrize(("item", "field", "suggestion"), [
    (org(title="CEO"), "organizations[0].title", None),
    (org(org_id=None, orgId=1), "organizations[0].orgId", "id"),
    (org(company_name="Acme"), "organizations[0].company_name", "name"),
    (org(attributes={}), "organizations[0].attributes", "attrs"),
])
def test_unknown_keys_inside_an_organization(item: dict, field: str,
                                             suggestion: str | None) -> None:
    error = refused(parse_unsigned, user(organizations=[item]), "unknown_field", field)
    if suggestion:
        assert f'did you mean "{suggestion}"?' in error.message


@pytest.mark.parametrize("key", ["jwt", "externalAuthCode", "sub", "user"])
def test_token_keys_are_unknown_in_unsigned_data(key: str) -> None:
    refused(parse_unsigned, user(**{key: "x"}), "unknown_field", key)


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"id": True, "avatar_url": "x"}, "avatar_url", "unknown_field"),
    ({"avatar_url": "x"}, "avatar_url", "unknown_field"),
    ({"id": "u", "organizations": "x", "name": 5, "email": "bad"}, "email", "invalid_field"),
    ({"id": "u", "attrs": attrs(51), "avatarUrl": "http://x", "name": 5}, "name", "invalid_field"),
    ({"organizations": [org(name="")], "id": ""}, "id", "invalid_field"),
    (user(organizations=[org(name="", zzz=1)]), "organizations[0].zzz", "unknown_field"),
    (user(organizations=[org(org_id=True, name="")]), "organizations[0].id", "invalid_field"),
    (user(organizations=[org(name="")] + orgs(11)), "organizations[0].name", "invalid_field"),
])
def test_checks_run_in_a_fixed_order(body: dict, field: str, code: str) -> None:
    refused(parse_unsigned, body, code, field)


# --- classify_body ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "kind", "payload"), [
    ({"id": None}, "anonymous", {"id": None}),
    ({"id": None, "name": "x"}, "anonymous", {"id": None, "name": "x"}),
    ({"id": "u"}, "unsigned", {"id": "u"}),
    ({}, "unsigned", {}),
    ({"jwt": "a.b.c"}, "jwt", "a.b.c"),
    ({"jwt": 5}, "jwt", 5),
    ({"jwt": None}, "jwt", None),
    ({"externalAuthCode": "a.b.c"}, "external_auth_code", "a.b.c"),
])
def test_classify_body(body: dict, kind: str, payload: object) -> None:
    got_kind, got_payload = classify_body(body)
    assert (got_kind, got_payload) == (kind, payload)
    classify_body(body).raise_for_stray()  # nothing stray


@pytest.mark.parametrize(("body", "kind", "stray"), [
    ({"jwt": "a.b.c", "email": "a@b.c"}, "jwt", "email"),
    ({"email": "a@b.c", "jwt": "a.b.c"}, "jwt", "email"),
    ({"jwt": "a.b.c", "id": "u"}, "jwt", "id"),
    ({"externalAuthCode": "a.b.c", "jwt": "a.b.c"}, "jwt", "externalAuthCode"),
    ({"externalAuthCode": "a.b.c", "user": {}}, "external_auth_code", "user"),
])
def test_keys_beside_a_token_are_unknown_after_verification(body: dict, kind: str,
                                                            stray: str) -> None:
    classified = classify_body(body)  # never raises: token errors are answered first
    assert classified.kind == kind
    error = refused(lambda _: classified.raise_for_stray(), None, "unknown_field", stray)
    assert "must be sent alone" in error.message


# --- parse_claims (§4) -----------------------------------------------------------------------

REGISTERED = {"iss": "https://idp", "aud": "signet-widget", "exp": 2_000_000_000,
              "nbf": 1, "iat": 1, "jti": "j-1", "tid": "t-1", "ctx": {"role": "admin"}}


def test_claims_at_top_level_ignore_other_claims() -> None:
    claims = {**REGISTERED, "sub": "u1", "email": "a@b.c", "avatar_url": "x", "plan": "pro",
              "organizations": [org(1, "Acme", title="ignored")]}
    assert parse_claims(claims) == UserData(
        id="u1", email="a@b.c", organizations=(OrgData(id="1", name="Acme"),))


@pytest.mark.parametrize(("claims", "expected"), [
    ({"id": "u1"}, "u1"),
    ({"id": 123}, "123"),
    ({"sub": "u2"}, "u2"),
    ({"sub": 7}, "7"),
    ({"id": "u1", "sub": "u1"}, "u1"),
    ({"id": "u1", "sub": "other"}, "u1"),  # the verifier answers token_malformed for this
    ({"sub": "top", "user": {"email": "a@b.c"}}, "top"),
    ({"sub": "top", "user": {"id": "nested"}}, "nested"),
])
def test_token_user_id(claims: dict, expected: str) -> None:
    assert parse_claims(claims).id == expected


@pytest.mark.parametrize(("claims", "field"), [
    ({}, "id"),
    (dict(REGISTERED), "id"),
    ({"id": None}, "id"),
    ({"sub": None}, "sub"),
    ({"id": True}, "id"),
    ({"sub": ""}, "sub"),
    ({"id": None, "sub": "u1"}, "id"),
    ({"user": {}}, "user.id"),
    ({"user": {"id": None}, "sub": "u1"}, "user.id"),
    ({"user": None}, "user"),
    ({"user": "u1"}, "user"),
    ({"user": ["u1"]}, "user"),
    ({"id": "u", "email": "bad"}, "email"),
    ({"id": "u", "organizations": [org(), org(name="")]}, "organizations[1].name"),
    ({"user": {"id": "u", "organizations": [org(), org(name="")]}}, "user.organizations[1].name"),
    ({"user": {"id": "u", "avatarUrl": "http://x"}}, "user.avatarUrl"),
    ({"user": {"id": "u", "attrs": {"k": [1]}}}, "user.attrs.k"),
    ({"user": {"id": "u", "plan": {"tier": 1}}}, "user.plan"),
    ({"user": {"id": "u", "k" * 65: 1}}, "user." + "k" * 65),
    ({"user": {"id": "u", "bio": "b" * 1025}}, "user.bio"),
    ({"user": {"id": "u", **attrs(51)}}, "user.attrs"),
    ({"user": {"id": "u", **attrs(26), "attrs": {f"x{i}": i for i in range(25)}}}, "user.attrs"),
])
def test_claims_refused(claims: dict, field: str) -> None:
    refused(parse_claims, claims, "invalid_field", field)


def test_nested_user_keys_outside_the_table_become_attrs() -> None:
    claims = {**REGISTERED, "sub": "u1", "email": "top@ignored.c",
              "user": {"id": "u1", "email": "a@b.c", "plan": "pro", "seats": 3, "sub": "s"}}
    assert parse_claims(claims) == UserData(
        id="u1", email="a@b.c", attrs={"plan": "pro", "seats": 3, "sub": "s"})


@pytest.mark.parametrize(("user_data", "expected"), [
    ({"id": "u", "plan": "pro", "attrs": {"plan": "free", "x": 1}}, {"plan": "free", "x": 1}),
    ({"id": "u", "plan": "pro", "attrs": None}, {"plan": "pro"}),
    ({"id": "u", "attrs": None}, None),
    ({"id": "u"}, MISSING),
    ({"id": "u", **attrs(25), "attrs": {f"x{i}": i for i in range(25)}}, {
        **attrs(25), **{f"x{i}": i for i in range(25)}}),
    ({"id": "u", **attrs(30), "attrs": attrs(30)}, attrs(30)),
])
def test_explicit_attrs_win_over_extra_keys(user_data: dict, expected: object) -> None:
    assert parse_claims({"user": user_data}).attrs == expected


def test_claims_must_be_a_dict() -> None:
    with pytest.raises(TypeError):
        parse_claims(["id"])  # type: ignore[arg-type]


# --- parse_login_payload (§5) ----------------------------------------------------------------

@pytest.mark.parametrize(("claims", "expected"), [
    ({"id": "u1"}, LoginOnly(id="u1", email=None)),
    ({"id": 42}, LoginOnly(id="42", email=None)),
    ({"sub": "u2", **REGISTERED}, LoginOnly(id="u2", email=None)),
    ({"email": "a@b.c"}, LoginOnly(id=None, email="a@b.c")),
    ({"id": "u1", "email": "a@b.c"}, LoginOnly(id="u1", email="a@b.c")),
    ({"id": "u1", "sub": "u1"}, LoginOnly(id="u1", email=None)),
    ({"id": "u1", "name": 5, "attrs": "ignored"}, LoginOnly(id="u1", email=None)),
])
def test_login_only_codes(claims: dict, expected: LoginOnly) -> None:
    assert parse_login_payload(claims) == expected


def test_login_code_with_a_user_object_is_user_data() -> None:
    claims = {**REGISTERED, "user": {"id": 9, "email": "a@b.c", "plan": "pro"}}
    assert parse_login_payload(claims) == UserData(id="9", email="a@b.c", attrs={"plan": "pro"})
    assert parse_login_payload({"sub": "s", "user": {"name": "N"}}) == UserData(id="s", name="N")


@pytest.mark.parametrize(("claims", "field"), [
    ({"id": None}, "id"),
    ({"id": True}, "id"),
    ({"id": ""}, "id"),
    ({"sub": 1.5}, "sub"),
    ({"email": "not-an-email"}, "email"),
    ({"email": None}, "email"),
    ({"id": "u1", "email": "bad"}, "email"),
    ({"user": 5}, "user"),
    ({"user": {"email": "a@b.c"}}, "user.id"),
    ({"user": {"id": "u", "attrs": attrs(51)}}, "user.attrs"),
])
def test_login_codes_refused(claims: dict, field: str) -> None:
    refused(parse_login_payload, claims, "invalid_field", field)


@pytest.mark.parametrize("claims", [{}, dict(REGISTERED), {"name": "Jane"}])
def test_login_code_naming_nobody_is_unknown_user(claims: dict) -> None:
    with pytest.raises(NoLoginTarget) as caught:
        parse_login_payload(claims)
    assert isinstance(caught.value, Refused)
    error = caught.value
    assert (error.code, http_status(error), error.field) == ("unknown_user", 401, None)


# --- the exported predicates -----------------------------------------------------------------

@pytest.mark.parametrize(("value", "ok"), [
    ("a@b", True), (EMAIL_254, True), ("x@localhost", True),
    ("a@b..c", False), ("a b@c.d", False), ("a@-b.com", False), ("a@b.c\n", False),
    (EMAIL_254[:1] + EMAIL_254, False), (None, False), (5, False),
])
def test_is_valid_email(value: object, ok: bool) -> None:
    assert is_valid_email(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("https://example.com", True), ("https://example.com/a.png?x=1", True), (URL_2048, True),
    ("https://xn--bcher-kva.example/a", True),
    ("http://example.com", False), ("javascript:alert(1)", False), ("data:,x", False),
    ("https://example.com\\a.png", False), ("//example.com/a", False), ("https://", False),
    (URL_2048 + "a", False), ("", False),
    (None, False), (b"https://example.com", False),
])
def test_is_safe_https_url(value: object, ok: bool) -> None:
    assert is_safe_https_url(value) is ok
