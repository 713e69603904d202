"""identity providers and their JWKS cache (issue 14)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 17:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
