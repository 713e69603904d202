"""widget: anonymous visitors setting and per-message identification (issue 16)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
