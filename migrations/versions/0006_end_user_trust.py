"""end users: what unsigned data may touch, proven emails, seats

- end_user.email_verified: the stored email was proven (signed data or an email sign-in). Existing
  rows: only the users email sign-in created whose email is still the one their id names. A
  verified user's email may have been planted by unsigned data before the user was verified, and
  nothing stored tells which, so it counts as proven again the next time signed data carries it.
- organization.signed / org_membership.signed: described or made by signed data. Existing rows:
  an organization a verified user belongs to counts as signed, and so do verified users'
  memberships (only verified users' data can have come signed).
- tenant.unsigned_user_limit: the cap on unverified identified users, apart from seats.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 14:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('end_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified', sa.Boolean(), nullable=False, server_default='0'))
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed', sa.Boolean(), nullable=False, server_default='0'))
    with op.batch_alter_table('org_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signed', sa.Boolean(), nullable=False, server_default='0'))
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsigned_user_limit', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_tenant_unsigned_user_limit'), 'unsigned_user_limit IS NULL OR unsigned_user_limit >= 0')

    op.execute(
        "UPDATE end_user SET email_verified = (external_id = 'email:' || lower(email))"
        " WHERE email IS NOT NULL AND NOT anonymous AND created_via = 'email'")
    op.execute(
        "UPDATE org_membership SET signed = (SELECT u.verified FROM end_user u WHERE u.id = org_membership.user_id)")
    op.execute(
        "UPDATE organization SET signed = EXISTS (SELECT 1 FROM org_membership m"
        " WHERE m.organization_id = organization.id AND m.signed)")


def downgrade():
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_tenant_unsigned_user_limit'), type_='check')
        batch_op.drop_column('unsigned_user_limit')
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of these tables would lose
    # their lower(email) / lower(name) expression indexes, which batch mode cannot reflect.
    op.drop_column('org_membership', 'signed')
    op.drop_column('organization', 'signed')
    op.drop_column('end_user', 'email_verified')
