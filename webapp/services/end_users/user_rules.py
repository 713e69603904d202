"""What a set-user call's proof allows, and the contract's `user` object: shared by the decision
flow (identify.py) and the writes (user_writes.py), which check again under the lock what the
decision checked on the unlocked read. A module of its own so neither of those imports the other
backwards (identify → user_writes → user_rules)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ...identity.userdata import MISSING, UserData
from ...models import EndUser
from . import legacy_hash, organizations, unsigned
from .snapshots import TenantSettings, UserInfo

FIELDS = (("email", "email"), ("name", "name"), ("avatar_url", "avatar_url"))


@dataclass(frozen=True)
class Proof:
    """How the data was vouched for: a verified token or a login link, and its key."""

    via: str  # "token" | "provider" | "login_link" | "legacy_hash"
    alg: str
    kid: str
    # What it vouches for: "all" the data (a token, a login link); a legacy user hash only the "id"
    # (or the "email" it was computed from): the rest stays unsigned data (legacy_hash.py).
    covers: str = "all"


def signs(proof: Proof | None) -> bool:
    """Whether `proof` vouches for the data itself (organizations, email), not just the id."""
    return proof is not None and proof.covers == "all"


def check_may_change(tenant: TenantSettings, user: UserInfo | EndUser | None, external_id: str, proof: Proof | None,
                     origin: str | None) -> None:
    """Unsigned data never changes a verified user (API.md §9): checked before the write and again
    under the lock."""
    if proof is None and user is not None and user.verified:
        unsigned.refuse(tenant, external_id, origin,
                        "This user is verified: their data can only come signed (send {jwt}).")


def only_identifies(user: UserInfo | EndUser | None, proof: Proof | None) -> bool:
    """A legacy hash naming a user that a token, provider, login link or email sign-in verified:
    it identifies them and changes nothing (their data only ever comes signed)."""
    return (proof is not None and proof.via == legacy_hash.VIA and user is not None and bool(user.verified)
            and user.verified_via != legacy_hash.VIA)


def new_email_verified(stored: str | None, proven: bool, data: UserData, proof: Proof | None) -> bool | None:
    """The new `email_verified`, or None when it stays: an email sent in signed data is proven, one
    changed by unsigned data is not (API.md §9: unsigned data vouches for nothing)."""
    if data.email is MISSING:
        return None
    if signs(proof) or (proof is not None and proof.covers == "email"):
        new = data.email is not None
    else:
        new = proven and data.email == stored
    return None if new == proven else new


def public_json(user: UserInfo | None) -> str:
    """`to_public(user)` as the answer's JSON writes it (the app's JSON provider, compact), made
    once per snapshot: a returning user's snapshot is kept until the next commit
    (read_connections.memoized), and every answer until then carries the same object."""
    memo = user.memo if user is not None else _ANONYMOUS_MEMO
    text = memo.get("public_json")
    if text is None:
        text = memo["public_json"] = current_app.json.dumps(to_public(user), separators=(",", ":"))
    return text


_ANONYMOUS_MEMO: dict = {}  # to_public(None) is one constant object


def to_public(user: UserInfo | None) -> dict:
    """The contract's `user` object."""
    if user is None or user.anonymous:
        return {"id": None, "email": None, "name": None, "avatarUrl": None, "attrs": {}, "organizations": [],
                "verified": False, "anonymous": True}
    return {
        "id": user.external_id, "email": user.email, "name": user.name, "avatarUrl": user.avatar_url,
        "attrs": user.attrs, "organizations": [organizations.to_public(o) for o in user.organizations],
        "verified": user.verified, "anonymous": False,
    }
