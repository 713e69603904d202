"""Identity health counters (issue 14): coalesced in memory per process, flushed into hourly rows.

`usage_count` holds one row per (tenant, bucket, start, counter name), in two buckets: "h" (an hour,
kept 3 days, for the last 24 hours) and "d" (a UTC day, kept 90 days, for 7 and 30 days): `key:<key_ref>` (verifications of a
secret, uploaded key or provider key), `kind:<kind>` (identifications by how they were vouched
for) and `refusal:<code>`. `unsigned_id_sample` keeps a few ids the `required` verification mode
would refuse (the newest 20 per tenant). Neither is written on a request's path: see
services/keys/usage.py.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime


class UsageCount(db.Model):
    __tablename__ = "usage_count"
    __table_args__ = (Index("ix_usage_count_tenant_name_hour", "tenant_id", "name", "hour"),)

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(1), primary_key=True)  # "h": an hour, "d": a day
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)  # the bucket's start, UTC
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the newest event counted in this row


class UnsignedIdSample(db.Model):
    __tablename__ = "unsigned_id_sample"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen: Mapped[int] = mapped_column(Integer)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
