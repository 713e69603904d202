"""Webhooks and staff mails from the outbox: endpoints (endpoints.py), the worker's fan-out and
deliveries (dispatch.py, delivery.py, worker.py), staff notifications (notify.py)."""
