"""Webhooks and staff mails from the outbox: endpoints (endpoints.py), the worker's fan-out and
deliveries (dispatch.py, delivery.py, recording.py, worker.py), retention (pruning.py), staff notifications
(notify.py)."""
