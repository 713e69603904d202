"""staff accounts: proven emails, invitations, password resets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 14:20:00

Members that existed before this revision are marked verified (grandfathered: they were made
before sign-up proved addresses; docs/SECURITY.md says so).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE member SET email_verified_at = created_at")

    op.create_table('staff_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('verify', 'reset')", name=op.f('ck_staff_token_purpose')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_staff_token_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_token_token_hash'))
    )
    with op.batch_alter_table('staff_token', schema=None) as batch_op:
        batch_op.create_index('ix_staff_token_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_token_member_id'), ['member_id'], unique=False)

    op.create_table('invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('owner', 'admin', 'agent')", name=op.f('ck_invitation_role')),
    sa.ForeignKeyConstraint(['invited_by_id'], ['member.id'], name=op.f('fk_invitation_invited_by_id_member'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_invitation_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitation')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitation_token_hash'))
    )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index('ix_invitation_expires_at', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitation_invited_by_id'), ['invited_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitation_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('staff_throttle',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_staff_throttle'))
    )


def downgrade():
    op.drop_table('staff_throttle')
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitation_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_invitation_invited_by_id'))
        batch_op.drop_index('ix_invitation_expires_at')
    op.drop_table('invitation')
    with op.batch_alter_table('staff_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_token_member_id'))
        batch_op.drop_index('ix_staff_token_expires_at')
    op.drop_table('staff_token')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
