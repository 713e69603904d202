"""`signet worker`: the delivery worker for webhooks and staff mails (services/webhooks/worker.py)."""
from __future__ import annotations

import signal

import click
from flask import current_app

from ..cli import signet
from ..services.webhooks.worker import Worker


@signet.command("worker")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64),
              help="Deliveries sent at once by this worker.")
@click.option("--until-idle", is_flag=True, help="Stop once nothing is due (tests, a cron job).")
def worker_command(threads: int, until_idle: bool):
    """Send the outbox: webhooks (signed, retried for about a day) and notification mails.
    Run one per host on PostgreSQL (they share the work), one in all on SQLite."""
    worker = Worker(current_app._get_current_object(), threads)

    def stop(signum, frame):
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"signet worker: {threads} thread(s), polling the outbox", err=True)
    worker.run(until_idle=until_idle)
