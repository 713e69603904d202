"""exactly once under faults (issue 19: 1 and 4)

- end_user.version: bumped by every set-user write; the attrs-only UPDATE applies only while the
  row is still the version it read (else the call takes the locked path), so two set-user calls
  for one user always leave the result of one serial order.
- message.client_message_id: the widget's own id for a user's message, unique within its
  conversation: a retry naming it again gets the stored message.
- idempotency_key: the first answer to a creating write sent with an Idempotency-Key, stored in
  the write's own transaction, kept 24 hours.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('end_user', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_message_id', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_message_conversation_id_client_message_id'),
                                          ['conversation_id', 'client_message_id'])
    op.create_table('idempotency_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_idempotency_key_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_key')),
    sa.UniqueConstraint('tenant_id', 'subject', 'key', name=op.f('uq_idempotency_key_tenant_id_subject_key'))
    )
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.create_index('ix_idempotency_key_created_at', ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('idempotency_key', schema=None) as batch_op:
        batch_op.drop_index('ix_idempotency_key_created_at')
    op.drop_table('idempotency_key')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_message_conversation_id_client_message_id'), type_='unique')
        batch_op.drop_column('client_message_id')
    # recreate="never": copying end_user would lose its expression indexes (see 0007).
    with op.batch_alter_table('end_user', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('version')
