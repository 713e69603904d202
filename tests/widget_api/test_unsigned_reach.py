"""What unsigned data may touch (API.md §9, issue 20 findings 2, 6 and 8), through the widget API.

- Ids Signet makes (`email:…`, `email-sha256:…`, `signet:…`) are never named by unsigned data.
- An organization signed data described is not joined, renamed or changed by unsigned data, and
  memberships from unsigned data never widen a `<signet-dashboard>` scope.
- Seats count the users the tenant vouches for; unsigned users have their own cap.
"""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import EndUser, Organization, OrgMembership, Rejection, Tenant

from .conftest import assert_error, call, count, fetch, identify, set_user, settings, sign, snapshot

ACME = [{"id": "acme", "name": "Acme", "attrs": {"plan": "pro"}}]


def signed(client, tenant, claims: dict) -> dict:
    return identify(client, {"jwt": sign(claims, tenant)})


def start(client, session: str, body: str) -> str:
    response = call(client, "POST", "conversations", {"body": body}, session=session)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


# --- finding 2: Signet's own ids ------------------------------------------------------------

@pytest.mark.parametrize("user_id", ["email:victim@corp.example", "email-sha256:" + "ab" * 32, "signet:anything"])
def test_unsigned_data_never_names_an_id_signet_makes(app, client, tenant, user_id):
    """The victim's email sign-in account (id `email:<address>`) holds a conversation; an unsigned
    setUser naming that id gets no session and reads and changes nothing."""
    victim = signed(client, tenant, {"id": user_id, "name": "Victim"})  # the tenant may name it, signed
    start(client, victim["session"], "private")
    before = snapshot(app)
    error = assert_error(set_user(client, {"id": user_id, "name": "Mallory"}), 400, "invalid_field", "id")
    assert "reserved for users Signet creates" in error["message"]
    assert snapshot(app) == before
    # Whatever the user's state: an unverified row with such an id (made before the rule) too.
    assert_error(set_user(client, {"id": user_id}), 400, "invalid_field", "id")


def test_an_unverified_user_under_a_reserved_id_is_out_of_unsigned_reach(app, client, tenant):
    """The finding as it was: email sign-in's user stayed unverified, so in `optional` mode an
    unsigned call naming `email:<address>` returned a session reading their conversations."""
    with app.app_context():
        db.session.add(EndUser(tenant_id=tenant.id, external_id="email:victim@corp.example",
                               email="victim@corp.example", attrs={}, created_via="email"))
        db.session.commit()
    before = snapshot(app)
    response = set_user(client, {"id": "email:victim@corp.example"})
    assert "session" not in (response.get_json() or {})
    assert_error(response, 400, "invalid_field", "id")
    assert snapshot(app) == before


def test_ids_that_only_look_alike_are_ordinary_ids(client, tenant):
    for user_id in ("Email:someone", "my-email:x", "signet", "emails:x"):
        assert identify(client, {"id": user_id})["user"]["verified"] is False


# --- finding 6: organizations described by signed data --------------------------------------

@pytest.fixture
def acme(client, tenant):
    """Vera, verified, describes acme in signed data."""
    return signed(client, tenant, {"id": "vera", "organizations": ACME})


def test_unsigned_data_cannot_join_a_signed_organization(app, client, tenant, acme):
    before = snapshot(app)
    rejections = count(app, Rejection)
    error = assert_error(set_user(client, {"id": "mallory", "organizations": [{"id": "own", "name": "Own"}] + ACME}),
                         403, "verification_required", "organizations[1].id")
    assert "managed by signed data" in error["message"]
    assert snapshot(app) == before and count(app, EndUser, EndUser.external_id == "mallory") == 0
    assert count(app, Rejection) == rejections + 1  # in the token debugger's recent refusals
    # An existing unsigned user is refused alike, and keeps what they had.
    identify(client, {"id": "mallory", "organizations": [{"id": "own", "name": "Own"}]})
    before = snapshot(app)
    assert_error(set_user(client, {"id": "mallory", "organizations": [ACME[0]]}), 403, "verification_required",
                 "organizations[0].id")
    assert snapshot(app) == before


@pytest.mark.parametrize("change", [{"name": "Pwned"}, {"attrs": {"plan": "free"}}, {"attrs": None}],
                         ids=["rename", "attrs", "clear-attrs"])
def test_unsigned_data_cannot_change_a_signed_organization_it_belongs_to(app, client, tenant, change):
    """Mallory joined beta while nothing signed had described it; then signed data did."""
    beta = {"id": "beta", "name": "Beta", "attrs": {"plan": "pro"}}
    identify(client, {"id": "mallory", "organizations": [beta]})
    signed(client, tenant, {"id": "vera", "organizations": [beta]})
    before = snapshot(app)
    assert_error(set_user(client, {"id": "mallory", "organizations": [{**beta, **change}]}), 403,
                 "verification_required", "organizations[0].id")
    assert snapshot(app) == before
    [org] = fetch(app, Organization, Organization.external_id == "beta")
    assert (org.name, org.attrs, org.signed) == ("Beta", {"plan": "pro"}, True)
    # Keeping the membership as it is, and leaving, stay allowed.
    assert identify(client, {"id": "mallory", "organizations": [beta]})["user"]["organizations"][0]["name"] == "Beta"
    assert identify(client, {"id": "mallory", "organizations": []})["user"]["organizations"] == []


def test_unsigned_data_still_creates_and_edits_organizations_nothing_signed_described(app, client, tenant, acme):
    identify(client, {"id": "uma", "organizations": [{"id": "uma-co", "name": "Uma Co"}]})
    user = identify(client, {"id": "uma", "organizations": [{"id": "uma-co", "name": "Uma & Co", "attrs": {"a": 1}}]})
    assert user["user"]["organizations"] == [{"id": "uma-co", "name": "Uma & Co", "attrs": {"a": 1}}]
    [org] = fetch(app, Organization, Organization.external_id == "uma-co")
    [membership] = fetch(app, OrgMembership, OrgMembership.organization_id == org.id)
    assert org.signed is False and membership.signed is False
    # Signed data naming it makes it signed, with its membership.
    signed(client, tenant, {"id": "vera", "organizations": ACME + [{"id": "uma-co", "name": "Uma & Co"}]})
    [org] = fetch(app, Organization, Organization.external_id == "uma-co")
    assert org.signed is True
    assert {m.signed for m in fetch(app, OrgMembership, OrgMembership.organization_id == org.id)} == {True, False}


def test_unsigned_memberships_never_widen_a_dashboard_scope(app, client, tenant):
    """Mallory joins acme unsigned before the tenant's signed data describes it, and writes; the
    org admin's <signet-dashboard> never shows her conversation. An admin whose own membership
    came unsigned gets no organization scope either."""
    mallory = identify(client, {"id": "mallory", "organizations": ACME})
    hers = start(client, mallory["session"], "from mallory")
    mate = signed(client, tenant, {"id": "mate", "organizations": ACME})
    theirs = start(client, mate["session"], "from mate")
    admin = signed(client, tenant, {"id": "admin", "organizations": ACME, "ctx": {"role": "admin", "orgId": "acme"}})
    mine = start(client, admin["session"], "from admin")
    shown = call(client, "GET", "dashboard", session=admin["session"]).get_json()
    assert shown["scope"] == "organization"
    assert {c["id"] for c in shown["conversations"]} == {mine, theirs}
    assert hers not in {c["id"] for c in shown["conversations"]}  # never hers

    # A user whose membership came from unsigned data, later verified by a token that leaves
    # organizations out (memberships kept) and claims admin: no organization scope.
    identify(client, {"id": "climber", "organizations": [{"id": "gamma", "name": "Gamma"}]})
    climber = signed(client, tenant, {"id": "climber", "ctx": {"role": "admin", "orgId": "gamma"}})
    shown = call(client, "GET", "dashboard", session=climber["session"]).get_json()
    assert shown["scope"] == "user" and shown["organization"] is None


def test_a_verified_returning_user_with_signed_organizations_writes_nothing(app, client, tenant, acme):
    """The hot path: flags already set, nothing to write (last_seen is coalesced to once a minute)."""
    first = fetch(app, EndUser, EndUser.external_id == "vera")[0].last_seen_at
    before = snapshot(app)
    signed(client, tenant, {"id": "vera", "organizations": ACME})
    assert snapshot(app) == before and fetch(app, EndUser, EndUser.external_id == "vera")[0].last_seen_at == first


# --- finding 8: seats --------------------------------------------------------------------------

def test_unsigned_users_never_use_up_the_seats_verified_users_need(app, client, tenant):
    settings(app, tenant, seat_limit=1)
    for i in range(5):
        identify(client, {"id": f"walk-in-{i}"})  # unsigned: no seat
    assert signed(client, tenant, {"id": "paying"})["user"]["verified"] is True
    assert_error(set_user(client, {"jwt": sign({"id": "second"}, tenant)}), 403, "seat_limit_reached")
    # First verification of an unsigned user takes a seat too: refused, nothing changes.
    before = snapshot(app)
    assert_error(set_user(client, {"jwt": sign({"id": "walk-in-0", "name": "Now signed"}, tenant)}), 403,
                 "seat_limit_reached")
    assert snapshot(app) == before
    assert identify(client, {"id": "walk-in-0"})["user"]["verified"] is False


def test_the_unsigned_users_limit(app, client, tenant):
    settings(app, tenant, unsigned_user_limit=2, seat_limit=5)
    identify(client, {"id": "a"})
    identify(client, {"id": "b"})
    before = snapshot(app)
    error = assert_error(set_user(client, {"id": "c"}), 403, "seat_limit_reached")
    assert "unsigned users" in error["message"]
    assert snapshot(app) == before
    identify(client, {"id": "a", "name": "Returning"})  # existing unsigned users keep working
    assert signed(client, tenant, {"id": "c"})["user"]["verified"] is True  # signed data still has seats
    identify(client, {"id": None})  # anonymous visitors count for neither


def test_the_cli_sets_the_unsigned_users_limit(app, tenant):
    result = app.test_cli_runner().invoke(args=["signet", "tenant", "set", tenant.public_id,
                                                "--unsigned-user-limit", "3"])
    assert result.exit_code == 0, result.output
    assert '"unsigned_user_limit":3' in result.output
    assert fetch(app, Tenant, Tenant.id == tenant.id)[0].unsigned_user_limit == 3
    result = app.test_cli_runner().invoke(args=["signet", "tenant", "set", tenant.public_id,
                                                "--unsigned-user-limit", "-1"])
    assert result.exit_code == 1 and "unsigned_user_limit" in result.output
    result = app.test_cli_runner().invoke(args=["signet", "tenant", "set", tenant.public_id,
                                                "--unsigned-user-limit", "none"])
    assert result.exit_code == 0 and fetch(app, Tenant, Tenant.id == tenant.id)[0].unsigned_user_limit is None


@pytest.mark.postgres
def test_an_organization_first_described_by_signed_data_mid_call_is_still_refused(tmp_path, postgres_url, ed_key,
                                                                                   monkeypatch):
    """The race on PostgreSQL: an unsigned call passes the check while no signed data has described
    `acme`; a signed call for another user then describes it and commits before the unsigned call
    writes. The unsigned call must not rename or join it: the rule is checked again on the locked
    rows, and the request is refused with nothing written."""
    from sqlalchemy import create_engine, text

    from webapp.services.end_users import organizations

    from ..conftest import make_app
    from .conftest import make_tenant

    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
    tenant = make_tenant(app, ed_key)
    client = app.test_client()
    identify(client, {"id": "walk-in", "organizations": [{"id": "acme", "name": "Acme"}]}, tenant=tenant)
    other = create_engine(postgres_url)
    check = organizations.refused_for_unsigned

    fired = []

    def check_then_signed_call_commits(*args, **kwargs):
        refused = check(*args, **kwargs)
        if not fired:  # the check before the write passed; then the signed call for vera commits
            fired.append(True)
            with other.begin() as conn:
                conn.execute(text("UPDATE organization SET signed = true, name = 'Acme Inc'"
                                  " WHERE external_id = 'acme'"))
        return refused

    monkeypatch.setattr(organizations, "refused_for_unsigned", check_then_signed_call_commits)
    try:
        before = snapshot(app)
        assert_error(set_user(client, {"id": "mallory", "organizations": [{"id": "acme", "name": "Pwned"}]},
                              tenant=tenant), 403, "verification_required", "organizations[0].id")
        after = snapshot(app)
        with app.app_context():
            org = db.session.scalars(db.select(Organization).filter_by(external_id="acme")).one()
            assert org.name == "Acme Inc"
            assert count(app, EndUser, EndUser.external_id == "mallory") == 0
        assert {k: v for k, v in after.items() if k != "organization"} == \
            {k: v for k, v in before.items() if k != "organization"}
    finally:
        other.dispose()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
