"""Infrastructure under the domain: the database and the hot path's read connections, the
PostgreSQL bounds, serving, rate limits, HTTP headers and hosts, the mailer and the background worker.
Nothing here knows a Signet rule.
"""
