"""identity providers and their JWKS cache (issue 14)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('identity_provider',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('issuer', sa.String(length=2048), nullable=False),
    sa.Column('jwks_url', sa.String(length=2048), nullable=False),
    sa.Column('discovered', sa.Boolean(), nullable=False),
    sa.Column('audiences', sa.JSON(), nullable=False),
    sa.Column('authorized_parties', sa.JSON(), nullable=False),
    sa.Column('id_claim', sa.String(length=64), nullable=False),
    sa.Column('attr_claims', sa.JSON(), nullable=False),
    sa.Column('organizations_claim', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('jwks_document', sa.Text(), nullable=True),
    sa.Column('jwks_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('jwks_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('jwks_error', sa.String(length=500), nullable=True),
    sa.Column('jwks_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('jwks_refetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('jwks_fetching_until', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_identity_provider_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_provider')),
    sa.UniqueConstraint('public_id', name=op.f('uq_identity_provider_public_id')),
    sa.UniqueConstraint('tenant_id', 'issuer', name=op.f('uq_identity_provider_tenant_id_issuer'))
    )
    with op.batch_alter_table('identity_provider', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_provider_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('identity_provider', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_provider_tenant_id'))

    op.drop_table('identity_provider')
