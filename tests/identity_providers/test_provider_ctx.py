"""Security review: a provider's token never carries `ctx`. Before, map_claims passed a top-level
`ctx` claim through, and `ctx` role admin with an orgId widens <signet-dashboard> to every
conversation of that organization's members (API.md §4). ID-token claims may be edited by the
user at some providers (profile or metadata fields), so the scope needs the customer's own token."""
from __future__ import annotations

from .conftest import add_provider, set_user

ADMIN_CTX = {"role": "admin", "orgId": "acme"}


def _session(response) -> str:
    assert response.status_code == 200, response.get_json()
    return response.get_json()["session"]


def _dashboard(app, tenant, session: str) -> dict:
    response = app.test_client().get(tenant.url("dashboard"), headers={"Authorization": f"Bearer {session}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_provider_tokens_ctx_never_widens_the_dashboard(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer, organizations_claim="orgs")
    # Both members of acme through the provider (signed memberships: the provider vouches for them).
    mate = _session(set_user(app, tenant, issuer.token(kid, sub="mate", orgs=["acme"])))
    theirs = tenant.start(mate, "the mate's private question")
    boss = _session(set_user(app, tenant, issuer.token(kid, sub="boss", orgs=["acme"], ctx=ADMIN_CTX)))
    mine = tenant.start(boss, "my own question")

    shown = _dashboard(app, tenant, boss)
    assert shown["scope"] == "user" and shown["organization"] is None
    assert {c["id"] for c in shown["conversations"]} == {mine}
    assert theirs not in str(shown)

    # The same scope from the customer's own signed token does reach the organization.
    own = _session(set_user(app, tenant, tenant.sign({"id": "boss", "ctx": ADMIN_CTX}, "EdDSA")))
    scoped = _dashboard(app, tenant, own)
    assert scoped["scope"] == "organization" and {c["id"] for c in scoped["conversations"]} == {mine, theirs}
