"""sessions end when what made them no longer holds

- tenant.unsigned_sessions_generation: bumped when the tenant switches to `required`; an unsigned
  session issued under an older value is ended.
- end_user.sessions_generation: bumped by "end all sessions" for the user; every session of the
  user issued under an older value is ended.
Both are read with the rows the widget's hot path already reads (services/snapshots.py).
Existing rows start at 0.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsigned_sessions_generation', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('end_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sessions_generation', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    # recreate="never": SQLite (3.35+) drops the column in place; copying the table would lose
    # end_user's expression indexes (lower(email), lower(name)), which batch mode cannot rebuild.
    with op.batch_alter_table('end_user', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('sessions_generation')
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('unsigned_sessions_generation')
