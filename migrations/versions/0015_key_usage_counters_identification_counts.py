"""key usage counters, identification counts and legacy user hash (issue 14)

- usage_count: coalesced counters flushed from each process at most once a minute, one row per
  (tenant, hour or day, counter): key verifications, identifications by kind, refusals by code.
- unsigned_id_sample: the newest ids that unsigned data named (what `required` would refuse).
- tenant.legacy_user_hash: the opt-in legacy user hash (setUser({id, userHash})), off.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('usage_count',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.String(length=1), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_usage_count_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'bucket', 'hour', 'name', name=op.f('pk_usage_count'))
    )
    with op.batch_alter_table('usage_count', schema=None) as batch_op:
        batch_op.create_index('ix_usage_count_tenant_name_hour', ['tenant_id', 'name', 'hour'], unique=False)
    op.create_table('unsigned_id_sample',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('seen', sa.Integer(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_unsigned_id_sample_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'external_id', name=op.f('pk_unsigned_id_sample'))
    )
    with op.batch_alter_table('tenant', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('legacy_user_hash', sa.Boolean(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('tenant', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('legacy_user_hash')
    op.drop_table('unsigned_id_sample')
    with op.batch_alter_table('usage_count', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_count_tenant_name_hour')
    op.drop_table('usage_count')
