"""webhooks outbox, deliveries and staff notifications (issue 13)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('outbox_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_outbox_event_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_event')),
    sa.UniqueConstraint('public_id', name=op.f('uq_outbox_event_public_id'))
    )
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_event_subject'), ['subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_event_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_outbox_event_undispatched', ['dispatched_at', 'id'], unique=False)

    op.create_table('webhook_endpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.String(length=500), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('secret_hint', sa.String(length=8), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=200), nullable=True),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_webhook_endpoint_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoint')),
    sa.UniqueConstraint('public_id', name=op.f('uq_webhook_endpoint_public_id'))
    )
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_endpoint_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('notification_setting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('wait_minutes', sa.Integer(), nullable=False),
    sa.CheckConstraint("mode IN ('every', 'waiting', 'never')", name=op.f('ck_notification_setting_mode')),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_notification_setting_membership_id_membership'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_setting')),
    sa.UniqueConstraint('membership_id', name=op.f('uq_notification_setting_membership_id'))
    )
    op.create_table('outbox_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('webhook', 'mail')", name=op.f('ck_outbox_delivery_kind')),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'failed', 'cancelled')", name=op.f('ck_outbox_delivery_state')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], name=op.f('fk_outbox_delivery_endpoint_id_webhook_endpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], name=op.f('fk_outbox_delivery_event_id_outbox_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_outbox_delivery_member_id_member'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_outbox_delivery_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_delivery'))
    )
    with op.batch_alter_table('outbox_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_delivery_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_delivery_endpoint', ['endpoint_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_delivery_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_delivery_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_delivery_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('outbox_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('excerpt', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['outbox_delivery.id'], name=op.f('fk_outbox_attempt_delivery_id_outbox_delivery'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_attempt'))
    )
    with op.batch_alter_table('outbox_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_attempt_delivery_id'), ['delivery_id'], unique=False)

    op.create_table('wait_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'], name=op.f('fk_wait_notice_conversation_id_conversation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], name=op.f('fk_wait_notice_membership_id_membership'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wait_notice')),
    sa.UniqueConstraint('membership_id', 'conversation_id', 'message_id', name=op.f('uq_wait_notice_membership_id_conversation_id_message_id'))
    )
    with op.batch_alter_table('wait_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wait_notice_conversation_id'), ['conversation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('wait_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wait_notice_conversation_id'))

    op.drop_table('wait_notice')
    with op.batch_alter_table('outbox_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_attempt_delivery_id'))

    op.drop_table('outbox_attempt')
    with op.batch_alter_table('outbox_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_delivery_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_delivery_member_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_delivery_event_id'))
        batch_op.drop_index('ix_outbox_delivery_endpoint')
        batch_op.drop_index('ix_outbox_delivery_due')

    op.drop_table('outbox_delivery')
    op.drop_table('notification_setting')
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoint_tenant_id'))

    op.drop_table('webhook_endpoint')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_event_undispatched')
        batch_op.drop_index(batch_op.f('ix_outbox_event_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_event_subject'))

    op.drop_table('outbox_event')
