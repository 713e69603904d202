"""write path performance (issue 18)

- tenant.webhook_events: the event types the tenant's enabled webhook endpoints subscribe to
  ("" none, "*" every one, else space-separated), so a user write records a user.* event in the
  outbox only when some endpoint wants it, without a query. Filled from the endpoints that exist.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('webhook_events', sa.String(length=1000), nullable=False, server_default=''))
    conn = op.get_bind()
    wanted: dict[int, set[str]] = {}
    for tenant_id, events in conn.execute(sa.text(
            "SELECT tenant_id, events FROM webhook_endpoint WHERE enabled = :yes"), {"yes": True}):
        wanted.setdefault(tenant_id, set()).update((events or "").split() or ["*"])
    for tenant_id, types in wanted.items():
        value = "*" if "*" in types else " ".join(sorted(types))
        conn.execute(sa.text("UPDATE tenant SET webhook_events = :value WHERE id = :id"),
                     {"value": value, "id": tenant_id})


def downgrade():
    with op.batch_alter_table('tenant', schema=None) as batch_op:
        batch_op.drop_column('webhook_events')
