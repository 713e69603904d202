"""staff audit log, dashboard sessions and single sign-on (issue 17)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('actor_member_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_member_id'], ['member.id'], name=op.f('fk_audit_entry_actor_member_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_audit_entry_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_tenant_id_at_id', ['tenant_id', 'at', 'id'], unique=False)
        batch_op.create_index('ix_audit_entry_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_actor_member_id'), ['actor_member_id'], unique=False)

    op.create_table('dashboard_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=120), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sso_tenant_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_dashboard_session_member_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sso_tenant_id'], ['tenant.id'], name=op.f('fk_dashboard_session_sso_tenant_id_tenant'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_session')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_dashboard_session_key_hash'))
    )
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_session_last_seen_at', ['last_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_session_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dashboard_session_sso_tenant_id'), ['sso_tenant_id'], unique=False)

    op.create_table('sso_provider',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('client_secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('email_domain', sa.String(length=253), nullable=False),
    sa.Column('default_role', sa.String(length=16), nullable=False),
    sa.Column('sso_only', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_sso_provider_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sso_provider')),
    sa.UniqueConstraint('email_domain', name=op.f('uq_sso_provider_email_domain')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_sso_provider_tenant_id'))
    )


def downgrade():
    op.drop_table('sso_provider')
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_session_sso_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_dashboard_session_member_id'))
        batch_op.drop_index('ix_dashboard_session_last_seen_at')
    op.drop_table('dashboard_session')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor_member_id'))
        batch_op.drop_index('ix_audit_entry_at')
        batch_op.drop_index('ix_audit_entry_tenant_id_at_id')
    op.drop_table('audit_entry')
