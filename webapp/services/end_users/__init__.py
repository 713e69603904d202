"""End users and their sessions: identifying them (set-user, login-link codes, email sign-in), what
unsigned data may touch, organizations, widget sessions, the hot path's snapshots, idempotency.
"""
