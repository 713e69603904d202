"""Plain-text mail through SIGNET_SMTP_URL, or printed to the server console when none is set.

`smtp://host[:port]` (default port 25) sends in clear to a local relay, as the contract's
example; `smtps://host[:port]` (default 465) uses implicit TLS with certificate checks; either
may carry `user:password@` for AUTH. Sending happens on a background thread, so a page that
mails answers as fast as one that does not (no timing hint about which addresses are known);
failures are logged without the message body, which holds a sign-in link.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import sys
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app

log = logging.getLogger("signet.mailer")
CONSOLE_PREFIX = "[signet] email sign-in"
TIMEOUT = 15


class MailConfigError(ValueError):
    """SIGNET_SMTP_URL is not a URL this mailer understands."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailConfigError("SIGNET_SMTP_URL must look like smtp://host:port or smtps://host:port")
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 25)
    except ValueError:
        raise MailConfigError("SIGNET_SMTP_URL has an invalid port") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpTarget(parts.hostname, port, tls, user, password)


def sender() -> str:
    configured = current_app.config.get("SIGNET_MAIL_FROM")
    if configured:
        return configured
    host = urlsplit(current_app.config.get("SIGNET_PUBLIC_URL") or "").hostname or "localhost"
    return f"Signet <no-reply@{host}>"


def send(to: str, subject: str, body: str, *, console_line: str) -> None:
    """Mail `body` to `to`; with no SMTP configured, print `console_line` to stderr instead."""
    url = current_app.config.get("SIGNET_SMTP_URL")
    if not url:
        print(f"{CONSOLE_PREFIX}: {console_line}", file=sys.stderr, flush=True)
        return
    try:
        target = parse_smtp_url(url)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender(), to, subject
        message.set_content(body)
    except (MailConfigError, ValueError) as error:  # ValueError: a header the email package refuses
        # Logged, never raised: a page must answer the same whether or not it sent a mail.
        log.error("could not send a sign-in mail: %s", error)
        return
    thread = threading.Thread(target=_deliver, args=(target, message), name="signet-mail", daemon=True)
    thread.start()


def send_now(to: str, subject: str, body: str, *, console_line: str) -> None:
    """Mail now, on this thread, raising on failure (OSError, smtplib.SMTPException,
    MailConfigError): the webhook worker's staff mails, which it retries from the outbox."""
    url = current_app.config.get("SIGNET_SMTP_URL")
    if not url:
        print(f"[signet] notification: {console_line}", file=sys.stderr, flush=True)
        return
    target = parse_smtp_url(url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender(), to, subject
    message.set_content(body)
    _transmit(target, message)


def _transmit(target: SmtpTarget, message: EmailMessage) -> None:
    if target.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT)
    with client:
        if target.username:
            client.login(target.username, target.password or "")
        client.send_message(message)


def _deliver(target: SmtpTarget, message: EmailMessage) -> None:
    try:
        _transmit(target, message)
    except (OSError, smtplib.SMTPException) as error:
        log.error("could not send a sign-in mail via %s:%s: %s", target.host, target.port, type(error).__name__)
