"""The one way Signet calls out over HTTP (identity providers' JWKS, webhooks): safe against SSRF.

A URL a workspace member typed must never reach inside the operator's network. So:
- https only; the host is resolved once and refused if ANY of its addresses is private,
  loopback, link-local, multicast, reserved or unspecified (IPv4-mapped, NAT64, 6to4 and Teredo
  IPv6 addresses are judged by the IPv4 address they carry);
- the connection goes to the address that was checked (TLS still verifies the certificate for
  the host name, sent as SNI and in the Host header), so a second DNS answer cannot rebind it;
- redirects are never followed (the 3xx answer is returned as is);
- one deadline (`timeout`, seconds) covers connecting, sending and reading;
- at most `max_bytes` of the body are read: a longer body comes back cut, with `truncated`.
The operator may allow http and private addresses with SIGNET_ALLOW_PRIVATE_URLS=1 (tests, or a
JWKS on the same network); the connection is still pinned to the resolved address.
"""
from __future__ import annotations

import http.client
import io
import ipaddress
import os
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from webapp.refusals import Refused

__all__ = ["Answer", "OutboundRefused", "OutboundFailed", "fetch", "check_url", "allow_private"]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_USER_AGENT = "Signet (+https://github.com/signet)"


class OutboundRefused(Refused):
    """The URL may not be called: not https, or its host resolves to a non-public address."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__("url_not_allowed", reason, field)
        self.reason = reason


class OutboundFailed(Exception):
    """The call was allowed but did not work: DNS failure, connection error, TLS error, timeout."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    """What the server answered; header names are lowercased."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False


def allow_private() -> bool:
    """SIGNET_ALLOW_PRIVATE_URLS from the app's config, or from the environment outside an app."""
    try:
        from flask import current_app
        return bool(current_app.config.get("SIGNET_ALLOW_PRIVATE_URLS"))
    except RuntimeError:
        return os.environ.get("SIGNET_ALLOW_PRIVATE_URLS", "").strip().lower() in ("1", "true", "yes", "on")


def _public(address: str) -> bool:
    """True when `address` is a global unicast address (judging embedded IPv4 by itself)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _public(str(embedded))
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


def _target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an allowed URL, or OutboundRefused."""
    if not isinstance(url, str) or len(url) > 2048 or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise OutboundRefused("The URL is not a valid web address.")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket, for one
        raise OutboundRefused("The URL is not a valid web address.") from None
    schemes = ("https", "http") if allow_private() else ("https",)
    if parts.scheme.lower() not in schemes:
        raise OutboundRefused("Only https:// URLs are allowed.")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("The URL must not carry a user name or password.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise OutboundRefused("The URL's port is not valid.") from None
    if not host:
        raise OutboundRefused("The URL has no host.")
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path.isascii():  # http.client could never send it: every delivery would fail
        raise OutboundRefused("The URL's path and query must be ASCII: percent-encode other characters.")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def _resolve(host: str, port: int) -> list[tuple]:
    """The host's addresses (socket family, sockaddr), all checked: one bad address refuses all."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundFailed(f"The host {host} could not be resolved.") from error
    if not infos:
        raise OutboundFailed(f"The host {host} could not be resolved.")
    if not allow_private():
        for info in infos:
            if not _public(info[4][0]):
                raise OutboundRefused(f"The host {host} resolves to a private or reserved address; "
                                      "only public addresses may be called.")
    return [(info[0], info[4]) for info in infos]


def check_url(url: str) -> str:
    """Validate a URL at setup time with the same rules as `fetch` (scheme, resolution, addresses);
    returns the URL. Raises OutboundRefused, or OutboundFailed when the host does not resolve."""
    scheme, host, port, _ = _target(url)
    _resolve(host, port)
    return url


class _Deadlined:
    """A connected socket whose every send and receive waits at most until `deadline`: http.client
    reads the status line and headers by many small reads, each given the socket's whole timeout,
    so a server trickling a header line every few seconds would otherwise hold the caller forever."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline
        self._readers, self._closed = 0, False

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def settle(self) -> None:
        self._sock.settimeout(_left(self._deadline))

    def sendall(self, data) -> None:
        self.settle()
        self._sock.sendall(data)

    def recv_into(self, buffer, *args) -> int:
        self.settle()
        return self._sock.recv_into(buffer, *args)

    def makefile(self, mode: str = "rb", *args, **kwargs):
        self._readers += 1
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        """Like socket.close: the socket really closes once no reader made by makefile is open
        (http.client closes the connection before the caller reads the answer's body)."""
        self._closed = True
        if self._readers <= 0:
            self._sock.close()

    def close_all(self) -> None:
        self._readers = 0
        self.close()

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()


class _Reader(io.RawIOBase):
    """The read side of a _Deadlined socket, for http.client's buffered reader."""

    def __init__(self, sock: _Deadlined):
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._sock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._sock.reader_closed()
        super().close()


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, whatever DNS says now, within one deadline."""

    def __init__(self, host: str, port: int, addresses: list[tuple], deadline: float, tls: bool):
        super().__init__(host, port, timeout=_left(deadline))
        self._addresses, self._tls, self._deadline = addresses, tls, deadline
        self.pinned: _Deadlined | None = None  # kept: http.client drops .sock once a reply is read

    def connect(self) -> None:
        last: OSError | None = None
        for family, sockaddr in self._addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(_left(self._deadline))  # the deadline is shared by every address tried
            try:
                sock.connect(sockaddr)
            except OSError as error:
                sock.close()
                last = error
                continue
            if self._tls:
                context = ssl.create_default_context()
                try:
                    sock.settimeout(_left(self._deadline))
                    sock = context.wrap_socket(sock, server_hostname=self.host)
                except OSError:
                    sock.close()
                    raise
            self.sock = self.pinned = _Deadlined(sock, self._deadline)
            return
        raise last or OSError("no address to connect to")


def fetch(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
          timeout: float = 5.0, max_bytes: int = 65536) -> Answer:
    """Call `url` once, with the rules in the module docstring. Raises OutboundRefused before any
    connection for a URL that may not be called, OutboundFailed when the call does not work."""
    scheme, host, port, path = _target(url)
    deadline = time.monotonic() + timeout
    addresses = _resolve(host, port)
    connection = _Pinned(host, port, addresses, deadline, scheme == "https")
    try:
        connection.request(method, path, body=body, headers={"User-Agent": _USER_AGENT, **(headers or {})})
        response = connection.getresponse()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        data, truncated = _read(connection, response, deadline, max_bytes)
        return Answer(response.status, answer_headers, data, truncated)
    except OutboundFailed:
        raise
    except (socket.timeout, TimeoutError) as error:
        raise OutboundFailed(f"{host} did not answer within {timeout:g} s.") from error
    except ssl.SSLError as error:
        raise OutboundFailed(f"The TLS connection to {host} failed ({error.reason or 'certificate'}).") from error
    except (OSError, http.client.HTTPException) as error:
        raise OutboundFailed(f"The connection to {host} failed ({type(error).__name__}).") from error
    finally:
        connection.close()
        if connection.pinned is not None:  # the answer's reader too, so the socket closes now
            connection.pinned.close_all()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutboundFailed("The call took longer than its time limit.")
    return left


def _read(connection: _Pinned, response: http.client.HTTPResponse, deadline: float,
          max_bytes: int) -> tuple[bytes, bool]:
    """At most max_bytes of the body (each receive bounded by what is left of the deadline: _Deadlined)."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = response.read1(min(16384, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    return data[:max_bytes], size > max_bytes
