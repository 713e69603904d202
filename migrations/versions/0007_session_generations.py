"""sessions end when what made them no longer holds

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
    pass


def downgrade():
    pass
