"""A PostgreSQL standby's snapshot does not list the transactions still running on the primary,
so `pg_current_snapshot()` there can stay the same across a commit (one below xmax, while an
older transaction holds xmin). A read connection that reaches a standby (a pooler's read routing,
libpq's `target_session_attrs=any`) must then keep nothing: here a revocation committed on the
primary is seen by the very next read on the standby (infra/read_connections._gated, found by
review: before, the kept "not revoked" was served until some later commit)."""
from __future__ import annotations

import time

import psycopg
import pytest

from webapp import create_app
from webapp.services.end_users import snapshots

from .pg_cluster import Cluster


@pytest.fixture
def primary_and_standby():
    primary = Cluster()
    standby_data = primary.root / "standby"
    try:
        primary.start()
        primary.run("pg_basebackup", "-D", str(standby_data), "-R", "-X", "stream", "-c", "fast", "-h", str(primary.sockets),
                    "-p", str(primary.port), "-U", "postgres")
        standby_port = _free_port()
        primary.run("tee", "-a", str(standby_data / "postgresql.conf"),
                    stdin=f"port = {standby_port}\nhot_standby = on\n")
        primary.run("pg_ctl", "-D", str(standby_data), "-l", str(primary.root / "standby.log"), "-w", "-t", "60",
                    "start")
        yield primary.url, primary.url.replace(f":{primary.port}/", f":{standby_port}/")
    finally:
        if (standby_data / "postmaster.pid").exists():
            try:
                primary.run("pg_ctl", "-D", str(standby_data), "-m", "immediate", "-w", "-t", "30", "stop")
            except RuntimeError:
                pass
        primary.remove()


def _free_port() -> int:
    from .pg_cluster import free_port

    return free_port()


@pytest.mark.postgres
def test_a_standby_keeps_nothing_a_commit_on_the_primary_could_leave_unseen(primary_and_standby):
    primary_url, standby_url = (url.replace("+psycopg", "") for url in primary_and_standby)
    with psycopg.connect(primary_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE revoked_session (sid VARCHAR(64) PRIMARY KEY)")
    app = create_app({"SQLALCHEMY_DATABASE_URI": primary_and_standby[1], "SECRET_KEY": "k"})
    primary = psycopg.connect(primary_url, autocommit=True)
    older, revoking, later = (psycopg.connect(primary_url) for _ in range(3))
    try:
        _replayed(primary, standby_url)
        older.execute("SELECT pg_current_xact_id()")  # running: holds xmin
        revoking.execute("INSERT INTO revoked_session VALUES ('s1')")  # running
        later.execute("SELECT pg_current_xact_id()")
        later.commit()  # a commit above the running ones: xmax moves past them
        _replayed(primary, standby_url)
        with app.app_context():
            assert snapshots.session_revoked("s1") is False
            assert snapshots.session_revoked("s1") is False  # (kept, if anything were kept)
            revoking.commit()  # below xmax: the standby's snapshot text stays the same
            _replayed(primary, standby_url)
            assert snapshots.session_revoked("s1") is True
    finally:
        older.rollback()
        for connection in (primary, older, revoking, later):
            connection.close()
        with app.app_context():
            from webapp.extensions import db

            db.engine.dispose()


def _replayed(primary, standby_url: str) -> None:
    """Wait until the standby has replayed everything the primary has written so far (the insert
    position: the throwaway cluster commits without waiting for its WAL to reach the disk)."""
    lsn = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    with psycopg.connect(standby_url, autocommit=True) as standby:
        deadline = time.monotonic() + 30
        while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.02)
