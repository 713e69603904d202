"""bounded keys per tenant and a per-tenant default audience

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 14:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# No schema change. The key limits are counted on the existing rows (ix_verification_key_tenant_live
# serves the count); keys already stored that break the new RSA rules stay in the table, verify
# nothing (keyring skips them with an error log line) and count against the cap until revoked.
# The per-tenant audience is set by the creation code for new workspaces; existing rows keep the
# "signet-widget" they hold, so no customer's tokens change meaning.


def upgrade():
    pass


def downgrade():
    pass
