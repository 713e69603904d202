"""Storage stays bounded: used jtis are pruned on the fly, and `signet prune` clears the rest."""
import json
import os
import time

import jwt
import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.identity.errors import TokenRefused
from webapp.models import RevokedSession, UsedJti
from webapp.services.keys import keyring
from webapp.services.end_users import identify, sessions
from webapp.services.workspace import tenants
from webapp.services.keys.jtis import PRUNE_EVERY
from webapp.services.keys.tokens import LEEWAY

from .conftest import PASSWORD

# 3 000 in the suite; docs/BENCHMARKS.md records a run with SIGNET_SOAK_CALLS=50000.
CALLS = int(os.environ.get("SIGNET_SOAK_CALLS", "3000"))
STEP = 0.1  # simulated seconds between calls
LIFETIME = 30  # each token's exp - now


def test_jti_table_stays_bounded_by_the_tokens_still_valid(app):
    with app.app_context():
        tenant = tenants.create_tenant("Soak", "soak@example.com", PASSWORD)
        row, secret = keyring.create_secret(tenant)
        start, largest = time.time(), 0
        for i in range(CALLS):
            now = start + i * STEP
            token = jwt.encode({"id": f"user-{i % 50}", "exp": now + LIFETIME, "jti": f"soak-{i}"}, secret,
                               algorithm="HS256", headers={"kid": row.kid})
            identify.set_user(tenant, {"jwt": token}, now=now)
            if i % 250 == 0:
                largest = max(largest, db.session.scalar(select(func.count()).select_from(UsedJti)))
        # Rows live until exp + leeway: that many calls' worth are legitimately kept, plus at most
        # one pruning interval of expired ones.
        still_valid = (LIFETIME + LEEWAY) / STEP
        assert largest <= still_valid + PRUNE_EVERY + 1, largest
        kept = db.session.scalar(select(func.count()).select_from(UsedJti))
        assert kept <= still_valid + PRUNE_EVERY + 1
        # …and never below it: a pruner that deleted live jtis would let a token be replayed.
        assert kept >= min(CALLS, still_valid) - 1, kept
        with pytest.raises(TokenRefused) as replay:
            identify.set_user(tenant, {"jwt": token}, now=now)
        assert replay.value.code == "token_replayed"


def test_prune_command_removes_expired_jtis_and_revocations(app):
    runner = app.test_cli_runner()
    with app.app_context():
        tenant = tenants.create_tenant("Prune", "prune@example.com", PASSWORD)
        long_ago = time.time() - 3 * 24 * 3600
        _, old = sessions.issue(tenant, visitor_id=sessions.new_visitor_id(), now=long_ago)
        _, fresh = sessions.issue(tenant, visitor_id=sessions.new_visitor_id())
        sessions.revoke(old)
        sessions.revoke(fresh)
    result = runner.invoke(args=["signet", "prune"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["revoked_sessions"] == 1
    with app.app_context():
        assert db.session.scalars(select(RevokedSession.sid)).all() == [fresh.sid]
