"""widget: anonymous visitors setting and per-message identification (issue 16)

- tenant.anonymous_visitors (default allowed) and tenant.anonymous_text: when anonymous visitors
  are not allowed, set-user {id: null} is 403 anonymous_not_allowed and the launcher shows the text.
- message.sender_via / sender_key: how the sender was identified when the message was written.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymous_visitors', sa.Boolean(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('anonymous_text', sa.String(length=500), nullable=True))
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_via', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('sender_key', sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('sender_key')
        batch_op.drop_column('sender_via')
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('anonymous_text')
        batch_op.drop_column('anonymous_visitors')
